#!/usr/bin/env bats
# elog-serve on a full disk (docs/operations.md, "A full disk"): the data
# directory is a small tmpfs that elog-produce fills. Below min_free_bytes
# produce gets STORAGE_FULL (retriable: elog-produce retries until its
# --timeout, then names the reason and exits 1); reads, deletes and
# metadata keep working; a delete frees room and produce resumes without a
# restart; the broker starts on a full disk. With the reserve off, a write
# that finds the disk full is cut back and the partition stays usable. In
# every case each line elog-produce reported delivered is in the topic
# exactly once, in order.
#
# Mounting a tmpfs needs root (CI runs the tests as root); elsewhere these
# tests are skipped with that reason.

bats_require_minimum_version 1.5.0
load helpers

DISK_SIZE=12m

setup() {
	elog_setup
	elog_need elog-serve elog-produce elog-consume elog-topic
	cd "$ELOG_TMP"
	mkdir disk
	if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o "size=$DISK_SIZE" tmpfs disk 2>/dev/null; then
		skip "needs root to mount a tmpfs as a small data disk"
	fi
	# 30000 numbered lines of ~500 bytes: more than the disk holds.
	awk 'BEGIN { pad = sprintf("%480s", ""); gsub(/ /, "x", pad)
		for (i = 1; i <= 30000; i++) printf "line %06d %s\n", i, pad }' >in.txt
}

teardown() {
	elog_stop_all
	if mountpoint -q "$ELOG_TMP/disk"; then
		umount "$ELOG_TMP/disk" || umount -l "$ELOG_TMP/disk"
	fi
	elog_teardown
}

# serve NAME [KEY=VALUE...] — start a broker on disk/data with those config keys.
serve() {
	local name=$1 kv
	shift
	: >"$name.conf"
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$name.conf"
	done
	elog_spawn "$name" elog-serve -c "$ELOG_TMP/$name.conf" -d "$ELOG_TMP/disk/data" -l 127.0.0.1:0
	elog_broker_wait "$name"
	export ELOG_BROKERS=$ELOG_ADDR
}

# fill TOPIC — produce in.txt to TOPIC until the broker refuses; checks the
# one-line verdict and sets DELIVERED to the number of lines acknowledged
# (the first ones: one partition, in order).
fill() {
	local n first read=30000
	run -1 elog-produce --raw --timeout 2s "$1" <in.txt
	assert_output --partial "broker storage is full"
	assert_equal "${#lines[@]}" 1
	[[ $output =~ ([0-9]+)\ lines?\ not\ delivered\ \(the\ first\ is\ line\ ([0-9]+)\) ]] ||
		fail "no count of undelivered lines: $output"
	n=${BASH_REMATCH[1]} first=${BASH_REMATCH[2]}
	if [[ $output =~ input\ not\ read\ past\ line\ ([0-9]+) ]]; then
		read=${BASH_REMATCH[1]}
	fi
	# What was not delivered is exactly the lines from the first failed one on.
	assert_equal "$n" "$((read - first + 1))"
	[ "$first" -gt 1000 ] || fail "only $((first - 1)) lines went in before the disk was full"
	DELIVERED=$((first - 1))
}

# check_topic TOPIC COUNT — TOPIC holds the first COUNT lines of in.txt,
# each once, in order (and nothing else).
check_topic() {
	elog-consume -e -q "$1" >"$1.out"
	head -n "$2" in.txt | cmp - "$1.out"
}

# check_prefix TOPIC COUNT — TOPIC holds the first N >= COUNT lines of
# in.txt, each once, in order: nothing acknowledged lost (lines past COUNT
# were stored but not acknowledged).
check_prefix() {
	local n
	elog-consume -e -q "$1" >"$1.out"
	n=$(wc -l <"$1.out")
	[ "$n" -ge "$2" ] || fail "$1 holds $n lines, $2 were acknowledged"
	head -n "$n" in.txt | cmp - "$1.out"
}

# count_lines PATTERN FILE — how many lines of FILE match PATTERN.
count_lines() {
	grep -c -- "$1" "$2" || true
}

@test "below min_free_bytes produce gets STORAGE_FULL; reads, delete and produce again without a restart" {
	serve broker min_free_bytes=4M
	elog-topic create -p 1 keep
	printf 'k1\nk2\nk3\n' | elog-produce --raw keep
	elog-topic create -p 1 big

	fill big
	# Refused at the reserve, before any write found the disk full.
	assert_equal "$(count_lines 'level=warn msg="disk space low"' broker.err)" 1
	assert_equal "$(count_lines 'reason="free space is below min_free_bytes"' broker.err)" 1
	check_topic big "$DELIVERED"
	run -0 elog-consume -e -q keep
	assert_output $'k1\nk2\nk3'
	run -0 elog-topic describe big

	# The reserve holds for every partition, and says so in one line.
	run -1 elog-produce --raw --timeout 1s keep <<<"k4"
	assert_output --regexp '^elog-produce: 1 line not delivered \(the first is line 1\): .*broker storage is full'

	run -0 elog-topic delete big
	assert_equal "$(count_lines 'level=warn msg="disk space ok again"' broker.err)" 1
	printf 'k4\nk5\n' | elog-produce --raw --timeout 10s keep
	run -0 elog-consume -e -q keep
	assert_output $'k1\nk2\nk3\nk4\nk5'
	assert_equal "$(count_lines 'msg="disk space low"' broker.err)" 1
	assert_equal "$(count_lines 'level=error' broker.err)" 0
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
}

@test "restart on a full disk: the broker starts, serves reads, refuses produce with STORAGE_FULL" {
	serve broker min_free_bytes=4M
	elog-topic create -p 1 big
	fill big
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0

	serve broker2 min_free_bytes=4M
	assert_equal "$(count_lines 'level=warn msg="disk space low"' broker2.err)" 1
	check_topic big "$DELIVERED"
	run -1 elog-produce --raw --timeout 1s big <<<"one more"
	assert_output --partial "broker storage is full"
	# The metadata log does not wait for room: a delete frees it.
	run -0 elog-topic delete big
	printf 'again\n' | elog-produce --raw --timeout 10s big
	run -0 elog-consume -e -q big
	assert_output "again"
	assert_equal "$(count_lines 'level=error' broker2.err)" 0
}

@test "no reserve: a write that finds the disk full is cut back, the partition stays usable, a delete still works" {
	serve broker min_free_bytes=0
	elog-topic create -p 1 big
	fill big
	assert_equal "$(count_lines 'level=warn msg="disk space low"' broker.err)" 1
	run -0 grep -c 'msg="disk space low".*No space left on device' broker.err
	check_prefix big "$DELIVERED"
	# Whatever room is left goes too: the disk is full to the last page.
	dd if=/dev/zero of=disk/filler bs=4k status=none 2>/dev/null || true

	# No room for a new topic (auto-created by a produce): refused, nothing recorded.
	run -1 elog-produce --raw --timeout 1s fresh <<<"first"
	assert_output --partial "'fresh': broker storage is full"
	# The broker restarts on the full disk and serves what it holds.
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
	serve broker2 min_free_bytes=0
	check_prefix big "$DELIVERED"

	# Metadata records still go in on the full disk (the metadata log's own
	# reserve): 20 config changes of ~300 bytes each (each reopens the
	# partition on the full disk), then the delete.
	for i in $(seq 1 20); do
		elog-topic alter --retention "${i}h" big
	done
	run -0 elog-topic describe big
	assert_output --partial "retention.ms	72000000"
	check_prefix big "$DELIVERED"
	run -0 elog-topic delete big
	rm disk/filler
	printf 'first\n' | elog-produce --raw --timeout 10s fresh
	run -0 elog-consume -e -q fresh
	assert_output "first"
	assert_equal "$(count_lines 'level=error' broker.err)" 0
	assert_equal "$(count_lines 'level=error' broker2.err)" 0
}

# hw TOPIC — the high watermark of partition 0.
hw() {
	elog-topic describe "$1" | awk -F '\t' '$1 == "partition" && $3 == 0 { print $8 }'
}

@test "below min_free_bytes a purge frees space and keeps the topic: produce resumes without a restart" {
	serve broker min_free_bytes=4M
	elog-topic create -p 1 --segment-bytes 1M big
	fill big
	check_topic big "$DELIVERED"
	local end
	end=$(hw big)
	# every segment but the one holding the last 100 records goes at once
	run -0 --separate-stderr elog-topic purge --before -100 big
	assert_output "big	0	0	$((end - 100))	$((end - 100))"
	assert_equal "$(count_lines 'level=warn msg="disk space ok again"' broker.err)" 1
	assert_equal "$(find disk/data/big/0 -name '*.log' | wc -l)" 1
	printf 'k1\nk2\n' | elog-produce --raw --timeout 10s big
	run -0 elog-consume -e -q big
	assert_equal "${#lines[@]}" 102
	assert_equal "$(head -n 100 <<<"$output")" "$(sed -n "$((end - 99)),${end}p" in.txt)"
	assert_line --index 100 k1
	assert_equal "$(count_lines 'level=error' broker.err)" 0
	# a restart keeps the start
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
	serve broker2 min_free_bytes=4M
	run -0 elog-consume -e -q -n 1 big
	assert_output "$(sed -n "$((end - 99))p" in.txt)"
}

@test "a disk with no room at all: a first purge deletes the segments below the new start to make room for its file" {
	serve broker min_free_bytes=0
	elog-topic create -p 1 --segment-bytes 1M big
	fill big
	dd if=/dev/zero of=disk/filler bs=4k status=none 2>/dev/null || true
	[ ! -e disk/data/big/0/log.start ]
	local end
	end=$(hw big)
	run -0 --separate-stderr elog-topic purge --before $((end - 10)) big
	assert_output "big	0	0	$((end - 10))	$((end - 10))"
	[ "$(elog_file_size disk/data/big/0/log.start)" -eq 45 ]
	run -0 elog-consume -e -q big
	assert_equal "${#lines[@]}" 10
	# again, on the disk filled anew: the file is overwritten in place
	dd if=/dev/zero of=disk/filler2 bs=4k status=none 2>/dev/null || true
	run -0 elog-topic purge --before $((end - 5)) big
	assert_output "big	0	$((end - 10))	$((end - 5))	5"
	elog_stop broker
	assert_equal "$ELOG_STOP_STATUS" 0
	serve broker2 min_free_bytes=0
	run -0 elog-consume -e -q big
	assert_equal "${#lines[@]}" 5
	assert_equal "$(count_lines 'level=error' broker.err)" 0
	assert_equal "$(count_lines 'level=error' broker2.err)" 0
}
