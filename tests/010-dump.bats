#!/usr/bin/env bats
# elog-dump: output format, --verify, damaged and foreign input, usage.
# Logs are written by tests/tools/mklog (record N: key "key-N", value
# "value-N", header seq=N, timestamp 1700000000000 + N).

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-dump mklog
	cd "$ELOG_TMP"
}

USAGE='usage: elog-dump [-hrv] [--version] path ...'
SEG0=00000000000000000000

# A three-segment partition in m/: offsets 0-99, 100-189, 190-199.
make_multi() {
	mklog -n 200 -b 5 -s 4k -i 512 m
	[ -f m/00000000000000000100.log ] && [ -f m/00000000000000000190.log ] ||
		fail "mklog did not roll segments as expected: $(ls m)"
}

# Checksums, sizes and mtimes of every file under $1.
fingerprint() {
	find "$1" -type f | sort | xargs stat -c '%n %s %Y' && find "$1" -type f | sort | xargs md5sum
}

# ---------------------------------------------------------------- usage

@test "--help: usage line, summary and every option on stdout, exit 0" {
	run -0 --separate-stderr elog-dump --help
	assert_line --index 0 "$USAGE"
	assert_line --regexp '^  -r, --records +also print every record'
	assert_line --regexp '^  -v, --verify +check crcs'
	assert_line --regexp '^  -h, --help +print this help and exit$'
	assert_line --regexp '^      --version +print the version and exit$'
	assert_equal "$stderr" ""
	run -0 elog-dump -h
	assert_line --index 0 "$USAGE"
}

@test "--version prints the version, exit 0" {
	run -0 elog-dump --version
	assert_output --regexp '^elog-dump \(elog\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "unknown long option: reason and usage on stderr, exit 2" {
	mklog -n 1 d
	run -2 --separate-stderr elog-dump --bogus d
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-dump: unrecognized option '--bogus'
$USAGE"
}

@test "unknown short option, missing path: exit 2" {
	run -2 --separate-stderr elog-dump -z .
	assert_equal "$stderr" "elog-dump: invalid option -- 'z'
$USAGE"
	run -2 --separate-stderr elog-dump
	assert_equal "$stderr" "elog-dump: missing path
$USAGE"
	run -2 --separate-stderr elog-dump --records=yes .
	assert_equal "$stderr" "elog-dump: option '--records' doesn't allow an argument
$USAGE"
	run -2 --separate-stderr elog-dump -v
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-dump: missing path
$USAGE"
}

@test "the man page synopsis is the usage line" {
	command -v groff >/dev/null || skip "groff is not installed"
	local synopsis
	synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-o -P-u -rLL=300n "$ELOG_REPO/man/elog-dump.1" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
	assert_equal "usage: $synopsis" "$USAGE"
}

@test "the man page is clean mdoc" {
	command -v groff >/dev/null || skip "groff is not installed"
	run -0 --separate-stderr groff -mdoc -Tutf8 -z -ww "$ELOG_REPO/man/elog-dump.1"
	assert_equal "$stderr" ""
}

@test "the completions offer exactly the options --help lists" {
	local help bash zsh
	run -0 elog-dump --help
	help=$(grep -oE -- '(^| )--?[a-z][a-z-]*' <<<"$output" | tr -d ' ' | sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-dump" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)]--?[a-z][a-z-]*" "$ELOG_REPO/completions/zsh/_elog-dump" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-dump"
}

# ---------------------------------------------------------------- output

@test "dump of a clean log: one line per batch, exact" {
	mklog -n 4 -b 2 d
	run -0 --separate-stderr elog-dump d
	assert_output "batch file=d/$SEG0.log position=0 base_offset=0 last_offset=1 term=1 first_timestamp=1700000000000 max_timestamp=1700000000001 producer_id=-1 producer_epoch=-1 base_sequence=-1 compression=none control=0 records=2 size=114 crc=0x456dea45
batch file=d/$SEG0.log position=114 base_offset=2 last_offset=3 term=1 first_timestamp=1700000000002 max_timestamp=1700000000003 producer_id=-1 producer_epoch=-1 base_sequence=-1 compression=none control=0 records=2 size=114 crc=0x7c16e8d7"
	assert_equal "$stderr" ""
	# The segment file alone prints the same batches under its own name.
	run -0 elog-dump "d/$SEG0.log"
	assert_equal "${#lines[@]}" 2
	cd d
	run -0 elog-dump "$SEG0.log"
	assert_line --index 1 --partial "batch file=$SEG0.log position=114 base_offset=2 "
}

@test "producer fields, term and compression appear in the batch line" {
	mklog -n 3 -b 3 -p 77 -T 9 p
	run -0 elog-dump p
	assert_output "batch file=p/$SEG0.log position=0 base_offset=0 last_offset=2 term=9 first_timestamp=1700000000000 max_timestamp=1700000000002 producer_id=77 producer_epoch=0 base_sequence=0 compression=none control=0 records=3 size=139 crc=0x575c1ae7"
	for codec in lz4 zlib; do
		mklog -n 6 -b 3 -V 200 -c "$codec" "$codec"
		run -0 elog-dump "$codec"
		assert_equal "${#lines[@]}" 2
		assert_line --index 1 --regexp "^batch file=$codec/$SEG0.log position=[0-9]+ base_offset=3 last_offset=5 .* compression=$codec control=0 records=3 size=[0-9]+ crc=0x[0-9a-f]{8}$"
	done
}

@test "--records: every record, with nulls, binary bytes and headers escaped" {
	mklog -n 1 -x d
	run -0 --separate-stderr elog-dump --records d
	assert_output 'batch file=d/00000000000000000000.log position=0 base_offset=0 last_offset=0 term=1 first_timestamp=1700000000000 max_timestamp=1700000000000 producer_id=-1 producer_epoch=-1 base_sequence=-1 compression=none control=0 records=1 size=89 crc=0xc606143c
record offset=0 timestamp=1700000000000 key="key-0" header.seq="0" value="value-0"
batch file=d/00000000000000000000.log position=89 base_offset=1 last_offset=5 term=1 first_timestamp=1700000000001 max_timestamp=1700000000005 producer_id=-1 producer_epoch=-1 base_sequence=-1 compression=none control=0 records=5 size=148 crc=0xd657bcc4
record offset=1 timestamp=1700000000001 key=null value="null key"
record offset=2 timestamp=1700000000002 key="" value=""
record offset=3 timestamp=1700000000003 key="bin" value="\x00\x01\x7f\x80\xff\"\\\n\r\t =a"
record offset=4 timestamp=1700000000004 key="tomb" value=null
record offset=5 timestamp=1700000000005 key="hdr" header.a\x20b\x3dc=null header.utf8="\xc3\xa9" header.="" value="v"'
	assert_equal "$stderr" ""
}

@test "--records decompresses lz4 and zlib batches to the same records" {
	local plain
	mklog -n 7 -b 4 -V 300 plain
	run -0 elog-dump -r plain
	plain=$(grep '^record ' <<<"$output")
	[ "$(wc -l <<<"$plain")" -eq 7 ]
	for codec in lz4 zlib; do
		mklog -n 7 -b 4 -V 300 -c "$codec" "$codec"
		run -0 elog-dump -r "$codec"
		assert_equal "$(grep '^record ' <<<"$output")" "$plain"
		assert_line --index 0 --partial " compression=$codec "
	done
}

@test "index files are printed entry by entry" {
	make_multi
	run -0 elog-dump "m/$SEG0.idx"
	assert_line --index 0 "index file=m/$SEG0.idx entry=0 rel_offset=15 offset=15 position=582"
	assert_line --index 5 "index file=m/$SEG0.idx entry=5 rel_offset=90 offset=90 position=3642"
	assert_equal "${#lines[@]}" 6
	run -0 elog-dump "m/$SEG0.tix"
	assert_line --index 0 "time_index file=m/$SEG0.tix entry=0 timestamp=1700000000014 rel_offset=15 offset=15 position=582"
	# the closing entry of a rolled segment: its end and its newest timestamp
	assert_line --index 6 "time_index file=m/$SEG0.tix entry=6 timestamp=1700000000099 rel_offset=100 offset=100 position=4050"
	# without a segment name the absolute offset is unknown
	cp "m/$SEG0.idx" other.idx
	run -0 elog-dump other.idx
	assert_line --index 0 "index file=other.idx entry=0 rel_offset=15 position=582"
}

@test "a file name with blanks or quotes is quoted" {
	mkdir 'my dir'
	mklog -n 1 'my dir'
	run -0 elog-dump 'my dir'
	assert_output --partial 'batch file="my dir/00000000000000000000.log" position=0 '
}

@test "an empty partition and an empty active segment print nothing, exit 0" {
	mklog -n 0 e
	run -0 --separate-stderr elog-dump e "e/$SEG0.log"
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	run -0 --separate-stderr elog-dump --verify e
	assert_equal "$stderr" ""
}

# ---------------------------------------------------------------- --verify

@test "--verify: a clean multi-segment partition, silent, exit 0" {
	make_multi
	run -0 --separate-stderr elog-dump --verify m
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	run -0 --separate-stderr elog-dump -v "m/$SEG0.log" m/00000000000000000100.idx m/00000000000000000190.tix
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	# compressed batches are decoded too
	mklog -n 50 -b 10 -V 100 -c lz4 -s 2k -i 256 z
	run -0 --separate-stderr elog-dump -v z
	assert_equal "$stderr" ""
}

@test "--verify --records prints what --records prints" {
	make_multi
	run -0 elog-dump --records m
	local expected=$output
	run -0 --separate-stderr elog-dump --verify --records m
	assert_output "$expected"
	assert_equal "${#lines[@]}" 240
}

@test "a flipped byte: the file and byte named, exit 1, later segments still read" {
	make_multi
	# a byte inside the records of the segment's second batch
	run -0 elog-dump "m/$SEG0.log"
	local second
	second=$(sed -n '2s/.* position=\([0-9]*\) .*/\1/p' <<<"$output")
	[ "$second" -gt 0 ]
	elog_flip_byte "m/$SEG0.log" $((second + 80))
	run -1 --separate-stderr elog-dump --verify m
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^elog-dump: m/$SEG0.log: byte $second: batch crc mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$"
	# without --verify: the batches before it are printed, then the same line;
	# the other segments are printed in full
	run -1 --separate-stderr elog-dump m
	assert_line --index 0 --partial "batch file=m/$SEG0.log position=0 base_offset=0 "
	assert_line --index 1 --partial "batch file=m/00000000000000000100.log position=0 base_offset=100 "
	assert_equal "${#lines[@]}" 21
	assert_regex "$stderr" "^elog-dump: m/$SEG0.log: byte $second: batch crc mismatch"
}

@test "a base offset that does not continue the log is named, exit 1" {
	mklog -n 4 -b 2 d
	# base_offset of the second batch (byte 114) is outside the crc
	elog_flip_byte "d/$SEG0.log" 114
	run -1 --separate-stderr elog-dump d
	assert_equal "${#lines[@]}" 1
	assert_equal "$stderr" "elog-dump: d/$SEG0.log: byte 114: batch base offset 253, expected 2"
	# the first batch must have the offset the segment's name gives
	mklog -n 2 e
	mv "e/$SEG0.log" e/00000000000000000007.log
	rm "e/$SEG0.idx" "e/$SEG0.tix"
	run -1 --separate-stderr elog-dump -v e
	assert_equal "$stderr" "elog-dump: e/00000000000000000007.log: byte 0: batch base offset 0, expected 7"
}

@test "a truncated segment: torn batch named, exit 1" {
	mklog -n 4 -b 2 d
	truncate -s 200 "d/$SEG0.log"
	run -1 --separate-stderr elog-dump -v d
	assert_equal "$stderr" "elog-dump: d/$SEG0.log: byte 114: torn batch: needs 114 bytes, the file ends after 86"
	truncate -s 120 "d/$SEG0.log"
	run -1 --separate-stderr elog-dump d
	assert_equal "${#lines[@]}" 1
	assert_equal "$stderr" "elog-dump: d/$SEG0.log: byte 114: torn batch: needs 64 bytes, the file ends after 6"
}

@test "a missing segment breaks offset continuity, exit 1" {
	make_multi
	rm m/00000000000000000100.*
	run -1 --separate-stderr elog-dump -v m
	assert_equal "$stderr" "elog-dump: m/00000000000000000190.log: byte 0: segment starts at offset 190, the previous one ends before offset 100"
}

@test "a corrupt index entry is found by --verify only" {
	make_multi
	# the position of entry 1 (byte 8 + 4) now points inside a batch
	elog_flip_byte "m/$SEG0.idx" 12
	run -0 elog-dump m
	run -1 --separate-stderr elog-dump --verify m
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-dump: m/$SEG0.idx: entry 1 at byte 8: position 1109 is not a batch start"
	run -1 --separate-stderr elog-dump --verify "m/$SEG0.idx"
	assert_equal "$stderr" "elog-dump: m/$SEG0.idx: entry 1 at byte 8: position 1109 is not a batch start"
	# a .tix timestamp that is not the running maximum
	rm -rf m
	make_multi
	elog_flip_byte m/00000000000000000100.tix 0
	run -1 --separate-stderr elog-dump -v m
	assert_regex "$stderr" "^elog-dump: m/00000000000000000100.tix: entry [0-9]+ at byte [0-9]+: "
}

@test "an index entry out of order is reported when printing the index" {
	make_multi
	# entry 1's relative offset (byte 8) below entry 0's
	printf '\001' | dd of="m/$SEG0.idx" bs=1 seek=8 count=1 conv=notrunc status=none
	run -1 --separate-stderr elog-dump "m/$SEG0.idx"
	assert_equal "${#lines[@]}" 1
	assert_equal "$stderr" "elog-dump: m/$SEG0.idx: entry 1 at byte 8: relative offset 1 does not increase"
}

@test "a missing index file is a warning, not corruption" {
	make_multi
	rm m/00000000000000000100.tix
	run -0 --separate-stderr elog-dump --verify m
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-dump: warning: m/00000000000000000100.tix: missing; rebuilt when the log is next opened"
}

@test "elog-dump never writes: a torn log is left as it was" {
	make_multi
	truncate -s 100 m/00000000000000000190.log
	rm m/00000000000000000100.idx
	local before
	before=$(fingerprint m)
	run -1 elog-dump m
	run -1 elog-dump --verify --records m
	run -0 elog-dump m/*.idx m/*.tix
	assert_equal "$(fingerprint m)" "$before"
}

# ---------------------------------------------------------------- foreign input

@test "foreign files: one line naming the file and byte 0, exit 1" {
	cp /etc/passwd passwd
	run -1 --separate-stderr elog-dump passwd
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" '^elog-dump: passwd: byte 0: '
	head -c 65536 /dev/urandom >random.bin
	run -1 --separate-stderr elog-dump random.bin
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" '^elog-dump: random.bin: byte 0: '
	cp "$(command -v elog-dump)" binary
	run -1 --separate-stderr elog-dump -v -r binary
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" '^elog-dump: binary: byte 0: '
	: >empty
	run -1 --separate-stderr elog-dump empty
	assert_equal "$stderr" "elog-dump: empty: byte 0: empty file, and its name is not a segment's"
}

@test "foreign index files and directories are refused, exit 1" {
	printf 'abcde' >"$SEG0.idx"
	run -1 --separate-stderr elog-dump "$SEG0.idx"
	assert_equal "$stderr" "elog-dump: $SEG0.idx: byte 0: partial entry of 5 bytes (entries are 8 bytes)"
	mkdir plain
	run -1 --separate-stderr elog-dump plain
	assert_equal "$stderr" "elog-dump: plain: not a partition directory: no log.meta"
	mklog -n 1 newer
	echo 'elog-partlog 2' >newer/log.meta
	run -1 --separate-stderr elog-dump newer
	assert_equal "$stderr" "elog-dump: newer/log.meta: written by format version 2, this build reads 1"
	echo 'something else' >newer/log.meta
	run -1 --separate-stderr elog-dump newer
	assert_equal "$stderr" "elog-dump: newer/log.meta: byte 0: not an elog partition log format line"
	run -1 --separate-stderr elog-dump /dev/null nonexistent
	assert_equal "$stderr" "elog-dump: /dev/null: not a regular file or a directory
elog-dump: nonexistent: cannot open: No such file or directory"
}

@test "several paths: the good ones are dumped, exit 1 if any failed" {
	mklog -n 2 -b 2 d
	: >empty
	run -1 --separate-stderr elog-dump empty d
	assert_equal "${#lines[@]}" 1
	assert_line --index 0 --partial "batch file=d/$SEG0.log position=0 "
	assert_equal "$stderr" "elog-dump: empty: byte 0: empty file, and its name is not a segment's"
}

@test "a write error on stdout is reported, exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	make_multi
	run -1 --separate-stderr sh -c 'elog-dump m >/dev/full'
	assert_equal "$stderr" "elog-dump: cannot write to stdout: No space left on device"
}
