#!/usr/bin/env bats
# Damage at rest never deletes or hides acknowledged data (issue 6, part 2).
#
# One byte is flipped at rest, after a clean shutdown (and, for the newest
# segment, after kill -9), in each of eight places: a closed segment's
# payload, length, base offset, first byte and index; the newest segment's
# payload and length; the metadata log. Then what the broker logs (or
# whether it starts), what `elog-consume -e` prints and exits with (from
# the start and from after the damage), and what `elog-dump --verify`
# finds. A torn tail (a crash's) is still cut and reported.
#
# Every topic here has 1000 records, "value-0" .. "value-999", in 200
# batches of 5 (offsets 5k..5k+4 in batch k), flush=always, 16 KiB segments.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-probe elog-consume elog-dump elog-topic
	cd "$ELOG_TMP"
}

# Brokers killed here are not judged by exit status: under SANITIZE=1 their
# reports must fail the test all the same.
teardown() {
	local reports
	elog_stop_all
	reports=$(grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' -e '^==[0-9]*== ' \
		"$ELOG_TMP"/*.err 2>/dev/null | xargs -r cat)
	elog_teardown
	[ -z "$reports" ] || fail "sanitizer report: $reports"
}

# Seconds any single consume may take before the test calls it hung.
T=30
RECORDS=1000

# start_broker NAME [ARGS...] — elog-serve on ./data, port 0; sets B.
start_broker() {
	local name=$1
	shift
	elog_spawn "$name" elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 "$@"
	elog_broker_wait "$name"
	B=$ELOG_ADDR
}

# stop_broker NAME — SIGTERM, expect exit 0.
stop_broker() {
	elog_stop "$1"
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "$1 exited $ELOG_STOP_STATUS: $(cat "$ELOG_TMP/$1.err")"
}

# fill — topic t with the 1000 records, acknowledged (acks=all, flush=always).
fill() {
	run -0 elog-probe -b "$B" create t -C flush=always -C segment.bytes=16k
	run -0 elog-probe -b "$B" produce t -a -1 -n 5 -k 200 -V 20
	[ "$(grep -c 'error=NONE' <<<"$output")" -eq 200 ] || fail "produce: $output"
}

# segments — the partition's .log files, oldest first.
segments() {
	ls "$ELOG_TMP"/data/t/0/*.log | sort
}

# batch FILE K — "position base_offset last_offset size" of the K-th batch (0-based).
batch() {
	elog-dump "$1" | sed -n "$(($2 + 1))s/.* position=\([0-9]*\) base_offset=\([0-9]*\) last_offset=\([0-9]*\) .* size=\([0-9]*\) .*/\1 \2 \3 \4/p"
}

# xor_byte FILE POSITION MASK — xor one byte in place.
xor_byte() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$byte" ] || fail "xor_byte: $1 has no byte $2"
	printf "\\$(printf '%03o' $((byte ^ $3)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# want FIRST LAST — offsets FIRST..LAST, one per line (empty when LAST < FIRST).
want() {
	[ "$2" -lt "$1" ] || seq "$1" "$2"
}

# consume [OPTIONS] — elog-consume -e of t printing offsets, into $output/$stderr.
consume() {
	run --separate-stderr timeout "$T" elog-consume -b "$B" -e -f '%o\n' "$@" t
}

# damaged_read FIRST LAST — consuming from the start prints FIRST-1 and below,
# then one line naming the topic, partition and the damaged offsets, exit 1;
# consuming from LAST+1 prints the rest, exit 0.
damaged_read() {
	local first=$1 last=$2
	consume
	[ "$status" -eq 1 ] || fail "consume -e: exit $status: $stderr"
	assert_equal "$output" "$(want 0 $((first - 1)))"
	assert_equal "${#stderr_lines[@]}" 1
	[[ ${stderr_lines[0]} == "elog-consume: fetch 't' partition 0 at offset $first: "*"offsets $first-$last are damaged ("*".log byte "* ]] ||
		fail "stderr: $stderr"
	consume -o $((last + 1))
	[ "$status" -eq 0 ] || fail "consume -o $((last + 1)): exit $status: $stderr"
	assert_equal "$output" "$(want $((last + 1)) $((RECORDS - 1)))"
}

# damage_logged NAME FILE BYTE FIRST LAST — the broker logged exactly that one damaged range.
damage_logged() {
	local lines
	lines=$(grep 'level=error msg="damaged data"' "$ELOG_TMP/$1.err")
	[ "$(wc -l <<<"$lines")" -eq 1 ] || fail "damage lines: $lines"
	[[ $lines == *" topic=t partition=0 file=$2 byte=$3 "*" offsets=$4-$5 reason="* ]] ||
		fail "damage line: $lines"
}

# described_damaged FIRST LAST — elog-topic describe shows the partition damaged, with the range.
described_damaged() {
	run -0 elog-topic -b "$B" describe t
	assert_line --regexp "^partition	t	0	.*	damaged$"
	assert_line "status	t	0	offsets $1-$2 damaged"
}

# verify_finds FILE BYTE — elog-dump --verify (read-only) reports FILE at BYTE, exit 1.
verify_finds() {
	run -1 --separate-stderr elog-dump --verify data/t/0
	[[ $stderr == *"elog-dump: data/t/0/$(basename "$1"): byte $2: "* ]] || fail "elog-dump: $stderr"
}

# A closed segment (the second of the partition) with one batch in its middle.
closed_setup() {
	start_broker b1
	fill
	stop_broker b1
	mapfile -t SEGS < <(segments)
	[ "${#SEGS[@]}" -ge 3 ] || fail "only ${#SEGS[@]} segments"
	SEG=${SEGS[1]}
	read -r POS FIRST LAST SIZE <<<"$(batch "$SEG" 3)"
	[ -n "$SIZE" ] || fail "no batch 3 in $SEG"
}

# The newest segment with one batch in its middle, after a clean shutdown
# (or kill -9, when $1 is "kill").
newest_setup() {
	start_broker b1
	fill
	if [ "${1:-}" = kill ]; then
		kill -KILL "$(elog_pid b1)"
		elog_stop b1
	else
		stop_broker b1
	fi
	mapfile -t SEGS < <(segments)
	SEG=${SEGS[-1]}
	local n
	n=$(elog-dump "$SEG" | wc -l)
	[ "$n" -ge 5 ] || fail "the newest segment holds $n batches"
	read -r POS FIRST LAST SIZE <<<"$(batch "$SEG" $((n / 2)))"
}

# ---------------------------------------------------------------- closed segment

@test "closed segment, payload byte: found when read, served around, never cut" {
	closed_setup
	local bytes
	bytes=$(elog_file_size "$SEG")
	xor_byte "$SEG" $((POS + 70)) 255
	start_broker b2
	damaged_read "$FIRST" "$LAST"
	damage_logged b2 "$SEG" "$POS" "$FIRST" "$LAST"
	described_damaged "$FIRST" "$LAST"
	# read again: the same answer, and no second line for the same damage
	damaged_read "$FIRST" "$LAST"
	damage_logged b2 "$SEG" "$POS" "$FIRST" "$LAST"
	# a following consumer stops there too, with the same line (elog-consume(1))
	run --separate-stderr timeout "$T" elog-consume -b "$B" -f '%o\n' t
	[ "$status" -eq 1 ] || fail "following: exit $status: $stderr"
	assert_equal "$output" "$(want 0 $((FIRST - 1)))"
	[[ $stderr == "elog-consume: fetch 't' partition 0 at offset $FIRST: "*"offsets $FIRST-$LAST are damaged"* ]] ||
		fail "stderr: $stderr"
	stop_broker b2
	[ "$(elog_file_size "$SEG")" -eq "$bytes" ]
	verify_finds "$SEG" "$POS"
}

@test "closed segment, length byte: the batch is damaged, the rest is served" {
	closed_setup
	xor_byte "$SEG" $((POS + 9)) 255
	start_broker b2
	damaged_read "$FIRST" "$LAST"
	damage_logged b2 "$SEG" "$POS" "$FIRST" "$LAST"
	stop_broker b2
	verify_finds "$SEG" "$POS"
}

@test "closed segment, base offset byte: no record under a wrong offset, none skipped" {
	closed_setup
	xor_byte "$SEG" $((POS + 1)) 255
	start_broker b2
	damaged_read "$FIRST" "$LAST"
	damage_logged b2 "$SEG" "$POS" "$FIRST" "$LAST"
	# every value is printed with its own offset
	run -1 --separate-stderr timeout "$T" elog-consume -b "$B" -e -f '%o %s\n' t
	[ "$(awk '{ sub(/\.+$/, "", $2) } $2 != "value-" $1' <<<"$output" | wc -l)" -eq 0 ] ||
		fail "wrong offsets: $output"
	[ "${#lines[@]}" -eq "$FIRST" ]
	stop_broker b2
	verify_finds "$SEG" "$POS"
}

@test "closed segment, first byte: found at start, the broker starts and serves around it" {
	closed_setup
	local base
	base=$(basename "$SEG" .log)
	base=$((10#$base))
	read -r POS FIRST LAST SIZE <<<"$(batch "$SEG" 0)"
	[ "$FIRST" -eq "$base" ]
	xor_byte "$SEG" 0 1
	start_broker b2
	damage_logged b2 "$SEG" 0 "$FIRST" "$LAST"
	damaged_read "$FIRST" "$LAST"
	stop_broker b2
	verify_finds "$SEG" 0
}

@test "closed segment, index: named, rebuilt from its log, no read fails" {
	closed_setup
	local idx=${SEG%.log}.idx entry_offset
	[ "$(elog_file_size "$idx")" -ge 16 ] || fail "$idx holds less than two entries"
	# entry 1's position off by one: still well formed, so only a lookup finds it
	entry_offset=$(elog-dump "$idx" | sed -n '2s/.* offset=\([0-9]*\) .*/\1/p')
	xor_byte "$idx" 12 1
	run -1 --separate-stderr elog-dump --verify data/t/0
	[[ $stderr == *"$(basename "$idx"): entry 1 at byte 8: "* ]] || fail "elog-dump: $stderr"
	start_broker b2
	consume -o "$entry_offset"
	[ "$status" -eq 0 ] || fail "consume -o $entry_offset: exit $status: $stderr"
	assert_equal "$output" "$(want "$entry_offset" $((RECORDS - 1)))"
	run grep -c "level=warn msg=\"index rebuilt\" topic=t partition=0 file=$idx " b2.err
	assert_output 1
	! grep -q 'level=error' b2.err || fail "$(cat b2.err)"
	consume
	[ "$status" -eq 0 ] && assert_equal "$output" "$(want 0 $((RECORDS - 1)))"
	stop_broker b2
	run -0 elog-dump --verify data/t/0
	# an index too wrong to pass the checks at start: rebuilt there, named
	xor_byte "$idx" 7 255
	start_broker b3
	run grep -c "level=warn msg=\"index rebuilt\" topic=t partition=0 file=$idx " b3.err
	assert_output 1
	consume
	[ "$status" -eq 0 ] && assert_equal "$output" "$(want 0 $((RECORDS - 1)))"
	stop_broker b3
	run -0 elog-dump --verify data/t/0
}

# ---------------------------------------------------------------- newest segment

# newest_damage OFFSET_IN_BATCH [kill] — flip one byte of a batch in the middle of the
# newest segment, restart: damage logged at start, nothing cut, reads around it.
newest_damage() {
	newest_setup "${2:-}"
	local bytes
	bytes=$(elog_file_size "$SEG")
	xor_byte "$SEG" $((POS + $1)) 255
	start_broker b2
	damage_logged b2 "$SEG" "$POS" "$FIRST" "$LAST"
	! grep -q 'truncated_bytes=[1-9]' b2.err || fail "cut: $(cat b2.err)"
	[ "$(elog_file_size "$SEG")" -eq "$bytes" ]
	damaged_read "$FIRST" "$LAST"
	described_damaged "$FIRST" "$LAST"
	# the partition takes appends after the damage
	run -0 elog-probe -b "$B" produce t -a -1 -n 5 -k 1 -s 1000
	assert_output "partition=0 error=NONE base_offset=1000 log_start=0"
	stop_broker b2
	verify_finds "$SEG" "$POS"
	# and after another restart it is all still there
	start_broker b3
	RECORDS=1005 damaged_read "$FIRST" "$LAST"
	stop_broker b3
}

@test "newest segment, payload byte, after a clean shutdown: damage, not a torn tail" {
	newest_damage 70
}

@test "newest segment, length byte, after a clean shutdown: damage, not a torn tail" {
	newest_damage 9
}

@test "newest segment, payload byte, after kill -9: valid batches follow, so damage" {
	newest_damage 70 kill
}

@test "newest segment, length byte, after kill -9: valid batches follow, so damage" {
	newest_damage 9 kill
}

# ---------------------------------------------------------------- metadata log

@test "metadata log, one byte: the broker refuses to start; --salvage-metadata is the way out" {
	local meta=data/__meta/0/00000000000000000000.log pos
	start_broker b1
	fill
	run -0 elog-probe -b "$B" create other -p 2
	stop_broker b1
	# the create of t, the first record
	read -r pos _ <<<"$(batch "$meta" 0)"
	xor_byte "$meta" $((pos + 70)) 255
	run -1 --separate-stderr timeout "$T" elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	# the damage line, what recovery found, then the reason in one line
	assert_equal "${#stderr_lines[@]}" 3
	[[ ${stderr_lines[0]} == *"level=error msg=\"damaged data\" topic=__meta partition=0 file=$ELOG_TMP/$meta byte=0 "* ]] ||
		fail "stderr: $stderr"
	[[ ${stderr_lines[1]} == *"level=error msg=\"partition recovered\" dir=$ELOG_TMP/data/__meta/0 truncated_bytes=0 "*" damaged_extents=1 "* ]] ||
		fail "stderr: $stderr"
	assert_equal "${stderr_lines[2]}" "elog-serve: cannot start: $ELOG_TMP/$meta: byte 0: metadata log damaged (offsets 0-0): see \"Damaged metadata log\" in docs/operations.md"
	[ -d data/t/0 ] && [ -d data/other/1 ] && [ ! -e data/.trash ] || [ -z "$(ls -A data/.trash)" ]
	run -0 elog-dump --verify data/t/0
	run -1 --separate-stderr elog-dump --verify data/__meta/0
	[[ $stderr == *"$meta: byte 0: "* ]] || fail "elog-dump: $stderr"
	# the way out: t adopted from its directory, other as recorded
	start_broker b2 --salvage-metadata
	grep -q 'level=warn msg="topic adopted from its directory, with the default config" topic=t partitions=1' b2.err ||
		fail "$(cat b2.err)"
	grep -q 'level=warn msg="metadata log salvaged" topics=2 adopted=1 dropped=0 damaged_offsets=1 ' b2.err ||
		fail "$(cat b2.err)"
	consume
	[ "$status" -eq 0 ] || fail "consume: $stderr"
	assert_equal "$output" "$(want 0 $((RECORDS - 1)))"
	run -0 elog-topic -b "$B" list
	assert_output "other	2	1
t	1	1"
	stop_broker b2
	[ -f data/__meta/0.damaged-1/00000000000000000000.log ]
	# and it starts without the option from then on
	start_broker b3
	consume
	[ "$status" -eq 0 ] || fail "consume: $stderr"
	stop_broker b3
}

@test "metadata log, a torn tail after kill -9 is cut; the topic directory it named stays" {
	local meta=data/__meta/0/00000000000000000000.log pos
	start_broker b1
	fill
	run -0 elog-probe -b "$B" create late
	kill -KILL "$(elog_pid b1)"
	elog_stop b1
	# the last record (the create of late) torn, as an interrupted append leaves it
	read -r pos _ <<<"$(batch "$meta" 1)"
	truncate -s $((pos + 30)) "$meta"
	start_broker b2
	grep -q 'level=warn msg="partition recovered" dir=.*__meta/0 truncated_bytes=30 ' b2.err || fail "$(cat b2.err)"
	grep -q 'level=warn msg="topic directory not in the metadata log: left alone" topic=late ' b2.err ||
		fail "$(cat b2.err)"
	[ -d data/late/0 ]
	consume
	[ "$status" -eq 0 ] && assert_equal "$output" "$(want 0 $((RECORDS - 1)))"
	stop_broker b2
}

# ---------------------------------------------------------------- torn tails

@test "a tail torn by kill -9 is still cut and reported" {
	newest_setup kill
	local size
	size=$(elog_file_size "$SEG")
	# the last batch torn halfway
	read -r POS FIRST LAST SIZE <<<"$(elog-dump "$SEG" | tail -n 1 | sed 's/.* position=\([0-9]*\) base_offset=\([0-9]*\) last_offset=\([0-9]*\) .* size=\([0-9]*\) .*/\1 \2 \3 \4/')"
	[ "$LAST" -eq $((RECORDS - 1)) ]
	truncate -s $((size - SIZE / 2)) "$SEG"
	start_broker b2
	grep -q "level=warn msg=\"partition recovered\" dir=$ELOG_TMP/data/t/0 truncated_bytes=$((SIZE - SIZE / 2)) truncated_records=5 " b2.err ||
		fail "$(cat b2.err)"
	! grep -q 'level=error' b2.err || fail "$(cat b2.err)"
	[ "$(elog_file_size "$SEG")" -eq "$POS" ]
	consume
	[ "$status" -eq 0 ] || fail "consume: $stderr"
	assert_equal "$output" "$(want 0 $((FIRST - 1)))"
	stop_broker b2
	run -0 elog-dump --verify data/t/0
}

@test "garbage appended past the synced end is cut and reported" {
	newest_setup
	local size
	size=$(elog_file_size "$SEG")
	head -c 3000 /dev/urandom >>"$SEG"
	start_broker b2
	grep -q "level=warn msg=\"partition recovered\" dir=$ELOG_TMP/data/t/0 truncated_bytes=3000 " b2.err ||
		fail "$(cat b2.err)"
	[ "$(elog_file_size "$SEG")" -eq "$size" ]
	consume
	[ "$status" -eq 0 ] && assert_equal "$output" "$(want 0 $((RECORDS - 1)))"
	stop_broker b2
	run -0 elog-dump --verify data/t/0
}
