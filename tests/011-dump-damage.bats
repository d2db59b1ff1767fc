#!/usr/bin/env bats
# elog-dump on damaged input, exhaustively for small files: every flipped
# byte and every truncation must be reported (exit 1, one line naming the
# file and a byte), and nothing may crash (exit > 1) or print a batch that
# was not checked.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-dump mklog
	cd "$ELOG_TMP"
}

SEG0=00000000000000000000

# elog-dump "$@" must exit 1 with exactly one stderr line naming $FILE;
# otherwise the case is added to $ELOG_TMP/failures. These loops run
# thousands of cases, so they avoid bats' `run` and extra processes.
check_one_report() {
	local st=0 errs
	elog-dump "$@" >/dev/null 2>"$ELOG_TMP/err" || st=$?
	mapfile -t errs <"$ELOG_TMP/err"
	if [ "$st" -ne 1 ] || [ "${#errs[@]}" -ne 1 ] || [[ ${errs[0]} != "elog-dump: $FILE: "* ]]; then
		local text="${errs[*]}"
		echo "elog-dump $* ($DAMAGE): status $st: ${text:0:300}" >>"$ELOG_TMP/failures"
	fi
}

# Fail the test if any case was added to $ELOG_TMP/failures.
no_failures() {
	if [ -s "$ELOG_TMP/failures" ]; then
		head -20 "$ELOG_TMP/failures"
		fail "$(wc -l <"$ELOG_TMP/failures") damaged inputs were not reported as expected"
	fi
}

# flip_each FILE CMD... — for each byte of FILE: flip it, run CMD, restore.
flip_each() {
	local file=$1 i bytes esc pre post mid
	shift
	cp "$file" "$ELOG_TMP/pristine"
	read -r -a bytes <<<"$(od -An -tu1 -v "$file" | tr -s ' \n' '  ')"
	[ "${#bytes[@]}" -gt 0 ] || fail "$file is empty"
	# Each copy written whole by the printf builtin, every byte an octal
	# escape: no process per byte (a cp and a dd each took most of the time).
	esc=()
	for ((i = 0; i < ${#bytes[@]}; i++)); do
		printf -v 'esc[i]' '\\%03o' "${bytes[i]}"
	done
	for ((i = 0; i < ${#bytes[@]}; i++)); do
		printf -v pre '%s' "${esc[@]:0:i}"
		printf -v post '%s' "${esc[@]:i+1}"
		printf -v mid '\\%03o' $((bytes[i] ^ 255))
		# shellcheck disable=SC2059 # the format is the escaped bytes
		printf "$pre$mid$post" >"$file"
		DAMAGE="$file: byte $i flipped"
		"$@"
	done
	cp "$ELOG_TMP/pristine" "$file"
}

both_modes() {
	check_one_report d
	check_one_report --verify d
}

@test "every flipped byte of a segment is caught, with or without --verify" {
	mklog -n 4 -b 2 -x d
	FILE=d/$SEG0.log
	flip_each "d/$SEG0.log" both_modes
	no_failures
	run -0 elog-dump --verify d
}

@test "every truncation of a segment is caught" {
	mklog -n 3 -b 1 -c lz4 -V 100 -i 1 d
	cp "d/$SEG0.log" "$ELOG_TMP/pristine"
	local size n
	size=$(elog_file_size "$ELOG_TMP/pristine")
	for ((n = 1; n < size; n++)); do
		head -c "$n" "$ELOG_TMP/pristine" >"d/$SEG0.log"
		DAMAGE="cut to $n bytes"
		# A cut exactly between batches leaves a shorter, valid log; its
		# indexes (an entry per batch with -i 1) still point past the end.
		if elog-dump d >/dev/null 2>&1; then
			FILE=d/$SEG0.idx check_one_report --verify d
		else
			FILE=d/$SEG0.log check_one_report d
		fi
	done
	no_failures
}

@test "every flipped byte of the index files is caught by --verify" {
	mklog -n 60 -b 3 -s 2k -i 256 m
	[ -s "m/$SEG0.idx" ] && [ -s "m/$SEG0.tix" ]
	FILE=m/$SEG0.idx
	flip_each "m/$SEG0.idx" check_one_report --verify m
	FILE=m/$SEG0.tix
	flip_each "m/$SEG0.tix" check_one_report --verify m
	no_failures
	run -0 elog-dump --verify m
}

@test "a header claiming a newer format with a tiny length does not crash" {
	local len
	FILE=$SEG0.log
	for len in 0 1 3 4 15 16 51 52 53 200; do
		# base_offset 0, batch_length len, crc 0, magic 2, the rest zero
		{
			head -c 8 /dev/zero
			printf "\\$(printf '%03o' "$len")\\000\\000\\000"
			head -c 4 /dev/zero
			printf '\002'
			head -c 47 /dev/zero
		} >"$SEG0.log"
		[ "$(elog_file_size "$SEG0.log")" -eq 64 ]
		DAMAGE="magic 2, batch_length $len"
		check_one_report "$SEG0.log"
		check_one_report -v -r "$SEG0.log"
	done
	no_failures
}

@test "random files of many sizes: exit 1, one line, never a crash" {
	local i size
	FILE=$SEG0.log
	for ((i = 0; i < 300; i++)); do
		size=$(((RANDOM % 300) + 1))
		head -c "$size" /dev/urandom >"$SEG0.log"
		DAMAGE="$size random bytes"
		check_one_report "$SEG0.log"
		check_one_report -v -r "$SEG0.log"
	done
	no_failures
}
