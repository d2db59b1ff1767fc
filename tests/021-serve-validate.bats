#!/usr/bin/env bats
# elog-serve: every produced batch is validated whole before anything is
# appended (docs/protocol.md, PRODUCE). Each malformed batch is built by
# tests/tools/elog-probe from a good one (--patch, --add32, --append, its
# crc recomputed unless --keep-crc) and sent on the same connection as a
# good batch after it: the bad one gets CORRUPT_BATCH naming the batch and
# its first bad field, nothing of it is stored, the good one lands at the
# next offset. At the end the partition holds exactly the good records.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-probe
	cd "$ELOG_TMP"
}

teardown() {
	local reports
	elog_stop_all
	reports=$(grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' -e '^==[0-9]*== ' \
		"$ELOG_TMP"/*.err 2>/dev/null | xargs -r cat)
	elog_teardown
	[ -z "$reports" ] || fail "sanitizer report: $reports"
}

start_broker() {
	elog_spawn b1 elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 "$@"
	elog_broker_wait b1
	B=$ELOG_ADDR
}

probe() {
	elog-probe -b "$B" "$@"
}

# refused REGEX PROBE_ARGS... — two batches of 3 records on one connection,
# the first changed by PROBE_ARGS: it must be refused with CORRUPT_BATCH and
# a message matching "batch 0: REGEX"; the second, untouched, must land at
# the offset after everything accepted so far ($next_offset). Records are
# numbered from $next_value; the good ones are remembered in $good.
refused() {
	local want=$1
	shift
	run -0 probe produce t -n 3 -k 2 -s "$next_value" "$@"
	assert_line --index 0 --regexp "^partition=0 error=CORRUPT_BATCH base_offset=-1 log_start=-1 message=batch 0: $want\$"
	assert_line --index 1 "partition=0 error=NONE base_offset=$next_offset log_start=0"
	[ "${#lines[@]}" -eq 2 ] || fail "expected two answers: $output"
	good+=("value-$((next_value + 3))" "value-$((next_value + 4))" "value-$((next_value + 5))")
	next_value=$((next_value + 6))
	next_offset=$((next_offset + 3))
}

# declared_minus_real N — the last refusal said "uncompressed length D: ...
# decompress to R bytes" with D - R = N.
declared_minus_real() {
	[[ ${lines[0]} =~ uncompressed\ length\ ([0-9]+):.*decompress\ to\ ([0-9]+)\ bytes ]] ||
		fail "no lengths in: ${lines[0]}"
	[ $((BASH_REMATCH[1] - BASH_REMATCH[2])) -eq "$1" ] || fail "declared - real is not $1: ${lines[0]}"
}

@test "malformed batches with a valid crc are refused, named and never stored; the connection stays usable" {
	start_broker
	run -0 probe create t
	good=() next_value=0 next_offset=0
	run -0 probe produce t -n 3
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	good+=(value-0 value-1 value-2)
	next_value=3 next_offset=3

	# record count larger than the records present (last offset delta agreeing)
	refused 'record count 4, but its records end after 3' --patch 20:03000000 --patch 60:04000000
	# last offset delta that disagrees with the count
	refused 'last offset delta 5 disagrees with its record count 3 \(a produced batch.s offsets are dense\)' \
		--patch 20:05000000
	refused 'record count 3 exceeds its last offset delta 1 \+ 1' --patch 20:01000000
	# a record length of 2^30
	refused 'record 0 \(byte 64\): length 1073741824 exceeds the [0-9]+ bytes left' --patch 64:8080808008
	# trailing bytes after the last record
	refused 'record count 3, but 3 more bytes follow its last record \(byte [0-9]+\)' --append 78797a
	# lz4 and zlib payloads that do not decompress
	refused 'uncompressed length [0-9]+: the lz4 records are malformed or decompress to more' \
		-z lz4 -V 200 --patch 68:ffffffffffffffff
	refused 'zlib records: malformed at or before byte [0-9]+: .*' -z zlib -V 200 --patch 68:0000
	# a compressed payload whose real size differs from the declared one
	refused 'uncompressed length [0-9]+: the lz4 records decompress to [0-9]+ bytes' -z lz4 -V 200 --add32 64:1
	declared_minus_real 1
	refused 'uncompressed length [0-9]+: the lz4 records are malformed or decompress to more' -z lz4 -V 200 --add32 64:-1
	refused 'uncompressed length [0-9]+: the zlib records decompress to [0-9]+ bytes' -z zlib -V 200 --add32 64:1
	declared_minus_real 1
	refused 'uncompressed length [0-9]+: the zlib records decompress to more' -z zlib -V 200 --add32 64:-1
	refused 'zlib records: 2 bytes after the end of the stream \(byte [0-9]+\)' -z zlib -V 200 --append 7a7a
	refused 'uncompressed length 1677[0-9]+ impossible from [0-9]+ bytes of lz4 data' -z lz4 -V 200 --add32 64:16777216
	# record fields
	refused 'record 0 \(byte 65\): attributes 0x04, expected 0' --patch 65:04
	refused 'record 0 \(byte 67\): offset delta 1, expected 0 \(a produced batch.s offsets are dense\)' --patch 67:01
	refused 'record 0 \(byte 66\): timestamp delta 2, expected 0 .*' --patch 66:04
	refused 'max timestamp [0-9]+, but its largest record timestamp is [0-9]+' --add32 40:1
	refused 'record 0 \(byte 68\): key length -2 is negative \(-1 means null\)' --patch 68:03
	# and the framing checks that were there before
	refused 'crc mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}' --patch 100:ff --keep-crc
	refused 'magic 0 invalid' --patch 16:00
	# a control batch is the broker's own to write (term starts, markers)
	refused 'attributes: the control bit is reserved for the broker' --patch 17:08

	# Nothing of any refused batch was stored: the log ends after the good
	# batches, and reads back exactly their records, in order.
	run -0 probe offsets t -t -1
	assert_output "error=NONE offset=$next_offset"
	run -0 probe dump t
	[ "${#lines[@]}" -eq "${#good[@]}" ] || fail "expected ${#good[@]} records: $output"
	for i in "${!good[@]}"; do
		assert_line --index "$i" --regexp "^offset=$i timestamp=[0-9]+ key=key-[0-9]+ value=${good[$i]}\.*\$"
	done
	# The broker logged no failure and stops cleanly.
	run grep -E 'level=(error|warn)' "$ELOG_TMP/b1.err"
	[ "$status" -eq 1 ] || fail "broker log: $output"
	elog_stop b1
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "elog-serve exited $ELOG_STOP_STATUS: $(cat "$ELOG_TMP/b1.err")"
}

@test "a bad batch after good ones in one request: nothing of the request is appended, the answer names batch 2" {
	start_broker
	run -0 probe create t
	run -0 probe produce t -n 3 -k 3 --join --bad 2 --patch 67:01
	assert_output "partition=0 error=CORRUPT_BATCH base_offset=-1 log_start=-1 message=batch 2: record 0 (byte 67): offset delta 1, expected 0 (a produced batch's offsets are dense)"
	run -0 probe offsets t -t -1
	assert_output "error=NONE offset=0"
	# The same request without the damage is appended whole.
	run -0 probe produce t -n 3 -k 3 --join
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	run -0 probe offsets t -t -1
	assert_output "error=NONE offset=9"
}

@test "max.record.bytes and max.batch.bytes: BATCH_TOO_LARGE naming the batch and the record, checked in the same pass" {
	start_broker
	run -0 probe create small -C max.batch.bytes=4k -C max.record.bytes=1k
	# A record over the limit inside a compressed batch is found after decompressing.
	run -0 probe produce small -n 3 -k 2 --join -V 100 --bad 1 -z lz4
	assert_output "partition=0 error=NONE base_offset=0 log_start=0"
	run -0 probe produce small -n 2 -k 2 -V 1500 -z lz4
	assert_line --index 0 --regexp '^partition=0 error=BATCH_TOO_LARGE base_offset=-1 log_start=-1 message=batch 0: record 0: 15[0-9]{2} bytes of key, value and headers exceed max.record.bytes 1024$'
	assert_line --index 1 --regexp 'error=BATCH_TOO_LARGE .* message=batch 0: record 0: '
	run -0 probe produce small -n 1 -k 2 --join -V 900 --bad 1 --append "$(printf '%02x' $(seq 1 200) | head -c 6000)"
	assert_output --regexp '^partition=0 error=CORRUPT_BATCH base_offset=-1 log_start=-1 message=batch 1: record count 1, but 200 more bytes follow its last record \(byte [0-9]+\)$'
	run -0 probe produce small -n 5 -V 900
	assert_output --regexp '^partition=0 error=BATCH_TOO_LARGE base_offset=-1 log_start=-1 message=batch 0: size [0-9]+ exceeds max.batch.bytes 4096$'
	run -0 probe offsets small -t -1
	assert_output "error=NONE offset=6"
}
