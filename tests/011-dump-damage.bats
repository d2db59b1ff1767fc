#!/usr/bin/env bats
# elog-dump on damaged input, exhaustively for small files: every flipped
# byte and every truncation must be reported (exit 1, one line naming the
# file and a byte), and nothing may crash (exit > 1) or print a batch that
# was not checked. The exhaustive tests check many damaged copies per
# elog-dump process (see CHUNK below).

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-dump mklog
	cd "$ELOG_TMP"
}

SEG0=00000000000000000000

# How these tests stay exhaustive and fast: every damaged input is a copy of
# the partition directory with one file changed, and one elog-dump checks a
# chunk of copies at once (it takes many paths and reports each damaged one
# on a line of its own, in order). When a chunk's report is not exactly one
# line per copy naming its file, with exit 1, every copy of the chunk is
# checked again alone, which names the culprits; a chunk that fails while
# each of its copies passes alone is a failure too (one path's damage
# leaking into the next). So every byte and every cut is still tried, in
# every mode, with the same expectations as one case at a time. The loops
# run in a bash of their own (plain, below): bats traps every command a
# test runs, which made loops of thousands of commands ten times slower.
# A process per case and those traps made each test take about 10 s.
CHUNK=64

# elog-dump "$@" must exit 1 with exactly one stderr line naming $FILE;
# otherwise the case is added to $ELOG_TMP/failures (and FAILED counts it).
check_one_report() {
	local st=0 errs
	elog-dump "$@" >/dev/null 2>"$ELOG_TMP/err" || st=$?
	mapfile -t errs <"$ELOG_TMP/err"
	if [ "$st" -ne 1 ] || [ "${#errs[@]}" -ne 1 ] || [[ ${errs[0]} != "elog-dump: $FILE: "* ]]; then
		local text="${errs[*]}"
		echo "elog-dump $* ($DAMAGE): status $st: ${text:0:300}" >>"$ELOG_TMP/failures"
		FAILED=$((FAILED + 1))
	fi
}

# Fail the test if any case was added to $ELOG_TMP/failures.
no_failures() {
	if [ -s "$ELOG_TMP/failures" ]; then
		head -20 "$ELOG_TMP/failures"
		fail "$(wc -l <"$ELOG_TMP/failures") damaged inputs were not reported as expected"
	fi
}

# A failure of the whole check, not of one case.
broken() {
	echo "$*" >>"$ELOG_TMP/failures"
}

# escapes FILE — its bytes as printf octal escapes into the array ESC.
escapes() {
	local -a bytes
	# shellcheck disable=SC2207 # od's words are the bytes
	bytes=($(od -An -to1 -v "$1"))
	ESC=()
	[ "${#bytes[@]}" -eq 0 ] || printf -v 'ESC[0]' '\\%s ' "${bytes[@]}"
	read -r -a ESC <<<"${ESC[0]}"
}

# load_dir DIR — every file of DIR, as printf octal escapes, into DIR_ESC
# (ESC is overwritten).
load_dir() {
	local f esc
	declare -gA DIR_ESC=()
	for f in "$1"/*; do
		escapes "$f"
		printf -v esc '%s' "${ESC[@]}"
		DIR_ESC[${f##*/}]=$esc
	done
}

# write_copy DEST NAME BYTES — DEST (existing) gets every file of the
# loaded directory, NAME's bytes being BYTES (printf escapes). New files,
# each written whole by the printf builtin: no process per copy.
write_copy() {
	local f
	for f in "${!DIR_ESC[@]}"; do
		if [ "$f" = "$2" ]; then
			# shellcheck disable=SC2059 # the format is the escaped bytes
			printf "$3" >"$1/$f"
		else
			# shellcheck disable=SC2059
			printf "${DIR_ESC[$f]}" >"$1/$f"
		fi
	done
}

# check_chunk NAME OPTION COPY... — elog-dump [OPTION] over the copies: exit
# 1 and one line per copy, in order, naming COPY/NAME; else each copy alone.
# A copy's damage is told by DAMAGE_OF[COPY].
check_chunk() {
	local name=$1 st=0 errs i=0 ok=1 failed_before=$FAILED copy
	local -a opt=()
	[ -n "$2" ] && opt=("$2")
	shift 2
	elog-dump "${opt[@]}" "$@" >/dev/null 2>"$ELOG_TMP/err" || st=$?
	mapfile -t errs <"$ELOG_TMP/err"
	{ [ "$st" -eq 1 ] && [ "${#errs[@]}" -eq $# ]; } || ok=0
	for copy in "$@"; do
		[ "$ok" -eq 1 ] || break
		[[ ${errs[i]} == "elog-dump: $copy/$name: "* ]] || ok=0
		i=$((i + 1))
	done
	[ "$ok" -eq 1 ] && return 0
	for copy in "$@"; do
		FILE=$copy/$name DAMAGE=${DAMAGE_OF[$copy]} check_one_report "${opt[@]}" "$copy"
	done
	[ "$FAILED" -gt "$failed_before" ] ||
		broken "elog-dump ${opt[*]} $1 ... ($# copies together): status $st, ${#errs[@]}" \
			"lines, though each copy alone is reported right: ${errs[*]:0:3}"
}

# check_all NAME OPTION... — check_chunk over COPIES, CHUNK at a time, once
# per OPTION ("" for none).
check_all() {
	local name=$1 opt i
	shift
	for opt in "$@"; do
		for ((i = 0; i < ${#COPIES[@]}; i += CHUNK)); do
			check_chunk "$name" "$opt" "${COPIES[@]:i:CHUNK}"
		done
	done
}

# make_copies DIR NAME flip|cut — COPIES: copies of DIR with NAME damaged,
# each byte flipped in turn (flip.NAME.I), or cut to each length from 1 to
# one less than its own (cut.N); DAMAGE_OF[COPY] says how.
make_copies() {
	local dir=$1 name=$2 kind=$3 i first=0 copy bytes mid
	load_dir "$dir"
	escapes "$dir/$name"
	[ "${#ESC[@]}" -gt 0 ] || { broken "$dir/$name is empty"; return; }
	[ "$kind" = flip ] || first=1
	COPIES=()
	declare -gA DAMAGE_OF=()
	for ((i = first; i < ${#ESC[@]}; i++)); do
		COPIES+=("$kind.$name.$i")
	done
	mkdir "${COPIES[@]}"
	for ((i = first; i < ${#ESC[@]}; i++)); do
		copy=$kind.$name.$i
		printf -v bytes '%s' "${ESC[@]:0:i}"
		if [ "$kind" = flip ]; then
			printf -v mid '\\%03o' $(((8#${ESC[i]#\\}) ^ 255))
			printf -v bytes '%s%s' "$bytes$mid" "${ESC[@]:i+1}"
			DAMAGE_OF[$copy]="$dir/$name: byte $i flipped"
		else
			DAMAGE_OF[$copy]="$dir/$name: cut to $i bytes"
		fi
		write_copy "$copy" "$name" "$bytes"
	done
}

# flip_each DIR NAME OPTION... — each byte of DIR/NAME flipped in a copy
# of DIR, checked with each OPTION.
flip_each() {
	local dir=$1 name=$2
	shift 2
	FAILED=0
	make_copies "$dir" "$name" flip
	check_all "$name" "$@"
}

# cut_each DIR NAME — DIR/NAME cut to each shorter length in a copy of
# DIR. A cut exactly between batches leaves a shorter, valid log, whose
# indexes (an entry per batch with mklog -i 1) still point past the end:
# such a copy (no report without --verify) must be reported by --verify
# naming its .idx; every other one without --verify, naming NAME.
cut_each() {
	local name=$2 st=0 errs line copy valid=()
	FAILED=0
	make_copies "$1" "$name" cut
	declare -A reported=()
	elog-dump "${COPIES[@]}" >/dev/null 2>"$ELOG_TMP/err" || st=$?
	mapfile -t errs <"$ELOG_TMP/err"
	[ "$st" -eq 1 ] || broken "elog-dump of every cut: status $st"
	for line in "${errs[@]}"; do
		if [[ $line =~ ^elog-dump:\ (cut\.$name\.[0-9]+)/$name:\  ]] &&
			[ -z "${reported[${BASH_REMATCH[1]}]}" ]; then
			reported[${BASH_REMATCH[1]}]=1
		else
			broken "not one report naming a cut's $name: $line"
		fi
	done
	for copy in "${COPIES[@]}"; do
		[ -n "${reported[$copy]}" ] || valid+=("$copy")
	done
	[ "${#valid[@]}" -gt 0 ] || broken "no cut between batches"
	COPIES=("${valid[@]}")
	check_all "${name%.log}.idx" --verify
}

# plain FUNCTION ARG... — run one of the functions above in a bash of its
# own, without bats' traps.
plain() {
	bash -c "$(declare -f check_one_report broken escapes load_dir write_copy check_chunk \
		check_all make_copies flip_each cut_each); CHUNK=$CHUNK; \"\$@\"" plain "$@"
}

@test "every flipped byte of a segment is caught, with or without --verify" {
	mklog -n 4 -b 2 -x d
	plain flip_each d "$SEG0.log" "" --verify
	no_failures
	local copies=(flip.*)
	[ "${#copies[@]}" -eq "$(elog_file_size "d/$SEG0.log")" ]
	run -0 elog-dump --verify d
}

@test "every truncation of a segment is caught" {
	mklog -n 3 -b 1 -c lz4 -V 100 -i 1 d
	plain cut_each d "$SEG0.log"
	no_failures
	local copies=(cut.*)
	[ "${#copies[@]}" -eq $(($(elog_file_size "d/$SEG0.log") - 1)) ]
}

@test "every flipped byte of the index files is caught by --verify" {
	mklog -n 60 -b 3 -s 2k -i 256 m
	[ -s "m/$SEG0.idx" ] && [ -s "m/$SEG0.tix" ]
	plain flip_each m "$SEG0.idx" --verify
	plain flip_each m "$SEG0.tix" --verify
	no_failures
	local copies=(flip.*)
	[ "${#copies[@]}" -eq $(($(elog_file_size "m/$SEG0.idx") + $(elog_file_size "m/$SEG0.tix"))) ]
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
