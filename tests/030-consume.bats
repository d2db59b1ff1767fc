#!/usr/bin/env bats
# elog-consume: start positions, -e/-n, output modes (values, --json, -f),
# partition selection, following, closed stdout and signals, errors, usage.
# Every test that reads records runs a real elog-serve on a free loopback
# port in its own directory and writes the records with elog-produce.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-consume
	cd "$ELOG_TMP"
}

USAGE='usage: elog-consume [-eJhq] [-b brokers] [-f format] [-g group [--exec cmd | --coproc cmd]] [-n count] [-o position] [--timeout duration] [--version] topic[:partition[,partition...]] ...'

# Seconds any single consume may take before the test calls it hung.
T=20

# Skip (not fail) while the broker or producer has not been built.
need_broker() {
	elog_need elog-serve elog-produce
}

# Start a broker on a free port and point ELOG_BROKERS at it.
start_broker() {
	need_broker
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0
	elog_broker_wait broker
	export ELOG_BROKERS=$ELOG_ADDR
}

# create_topic NAME PARTITIONS
create_topic() {
	elog_need elog-topic
	elog-topic create -p "$2" "$1" || fail "elog-topic create -p $2 $1 failed"
}

# produce TOPIC [elog-produce options] < lines
produce() {
	local topic=$1
	shift
	elog-produce "$@" "$topic" || fail "elog-produce $* $topic failed"
}

# seq_values TOPIC FIRST LAST: values {"n":FIRST} .. {"n":LAST} into partition 0.
seq_values() {
	local i
	for ((i = $2; i <= $3; i++)); do echo "{\"n\":$i}"; done | produce "$1" -p 0
}

# stderr_is_usage_error PREFIX: after a `run --separate-stderr`, stderr is
# one line starting with PREFIX, then the usage line; stdout is empty.
stderr_is_usage_error() {
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 2
	[[ ${stderr_lines[0]} == "$1"* ]] || fail "stderr: ${stderr_lines[0]}; want a line starting with: $1"
	assert_equal "${stderr_lines[1]}" "$USAGE"
}

# ---------------------------------------------------------------- usage

@test "--help: usage line, summary and every option on stdout, exit 0" {
	run -0 --separate-stderr elog-consume --help
	assert_line --index 0 "$USAGE"
	assert_line --regexp '^  -b, --brokers=BROKERS +brokers to ask'
	assert_line --regexp '^  -o, --offset=POSITION +where to start: earliest \(default\)'
	assert_line --regexp '^  -e, --exit +exit at the end offsets'
	assert_line --regexp '^  -n, --count=COUNT +exit after COUNT records$'
	assert_line --regexp '^  -J, --json +print one JSON envelope per record'
	assert_line --regexp '^  -f, --format=FORMAT +print records as FORMAT'
	assert_line --regexp '^  -q, --quiet +'
	assert_line --regexp '^  -h, --help +print this help and exit$'
	assert_line --regexp '^      --version +print the version and exit$'
	assert_equal "$stderr" ""
	run -0 elog-consume -h
	assert_line --index 0 "$USAGE"
}

@test "--version prints the version, exit 0" {
	run -0 elog-consume --version
	assert_output --regexp '^elog-consume \(elog\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "usage errors: reason and usage on stderr, nothing on stdout, exit 2" {
	run -2 --separate-stderr elog-consume
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-consume: missing topic
$USAGE"
	run -2 --separate-stderr elog-consume --bogus t
	assert_equal "$stderr" "elog-consume: unrecognized option '--bogus'
$USAGE"
	run -2 --separate-stderr elog-consume -o sometime t
	stderr_is_usage_error "elog-consume: -o: "
	run -2 --separate-stderr elog-consume -o @yesterday t
	stderr_is_usage_error "elog-consume: -o: "
	run -2 --separate-stderr elog-consume -n -3 t
	stderr_is_usage_error "elog-consume: -n: "
	run -2 --separate-stderr elog-consume -n 10x t
	stderr_is_usage_error "elog-consume: -n: "
	run -2 --separate-stderr elog-consume -f '%s %x' t
	assert_equal "$stderr" "elog-consume: -f: unknown token %x at character 4
$USAGE"
	run -2 --separate-stderr elog-consume -f 'a\q' t
	assert_equal "$stderr" "elog-consume: -f: unknown escape \\q at character 2
$USAGE"
	run -2 --separate-stderr elog-consume -f '%s' --json t
	assert_equal "$stderr" "elog-consume: --json and -f exclude each other
$USAGE"
	run -2 --separate-stderr elog-consume 'bad/topic'
	stderr_is_usage_error 'elog-consume: invalid topic "bad/topic": '
	run -2 --separate-stderr elog-consume t:x
	stderr_is_usage_error "elog-consume: 't': invalid partition: "
	run -2 --separate-stderr elog-consume t:1,
	stderr_is_usage_error "elog-consume: 't': invalid partition: "
	run -2 --separate-stderr elog-consume t t:1
	assert_equal "$stderr" "elog-consume: 't' listed twice
$USAGE"
	run -2 --separate-stderr elog-consume t:1,2 t:2
	assert_equal "$stderr" "elog-consume: 't': a partition listed twice
$USAGE"
	run -2 --separate-stderr elog-consume -b 'host:99999' t
	stderr_is_usage_error "elog-consume: -b: "
	ELOG_BROKERS='[::1' run -2 --separate-stderr elog-consume t
	stderr_is_usage_error "elog-consume: ELOG_BROKERS: "
}

@test "the man page synopsis is the usage line" {
	command -v groff >/dev/null || skip "groff is not installed"
	local synopsis
	synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-o -P-u -rLL=300n "$ELOG_REPO/man/elog-consume.1" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
	assert_equal "usage: $synopsis" "$USAGE"
}

@test "the completions offer exactly the options --help lists" {
	local help bash zsh
	run -0 elog-consume --help
	# the option column of --help: "  -b, --brokers=BROKERS", "      --version"
	help=$(awk '/^  -|^      --/ { gsub(/,/, "")
		for (i = 1; i <= NF && $i ~ /^-/; i++) { sub(/=.*/, "", $i); print $i } }' <<<"$output" |
		sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-consume" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)]--?[a-zA-Z][a-z-]*" "$ELOG_REPO/completions/zsh/_elog-consume" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-consume"
}

# ---------------------------------------------------------------- errors

@test "unknown topic or partition: one line on stderr, exit 1, nothing created" {
	start_broker
	run -1 --separate-stderr timeout $T elog-consume -e nosuch
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == elog-consume:*nosuch* ]]
	# consuming did not create it
	run -1 --separate-stderr timeout $T elog-consume -e nosuch
	create_topic t 2
	run -1 --separate-stderr timeout $T elog-consume -e t:5
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == elog-consume:* ]]
}

@test "no broker listening: retried until --timeout, then one line on stderr, exit 1" {
	SECONDS=0
	run -1 --separate-stderr timeout 60 elog-consume -b 127.0.0.1:1 --timeout 1s -e t
	[ "$SECONDS" -le 10 ]
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "elog-consume: "*"127.0.0.1:1"* ]]
	# a follower too gives up at the start
	run -1 --separate-stderr timeout 60 elog-consume -b 127.0.0.1:1 --timeout 1s t
	assert_equal "${#stderr_lines[@]}" 1
	run -2 --separate-stderr elog-consume --timeout 0 t
	stderr_is_usage_error "elog-consume: --timeout: "
}

# ---------------------------------------------------------------- positions

@test "-e from earliest (the default) prints exactly what was produced, in order" {
	start_broker
	create_topic t 1
	seq 1 1000 | produce t
	run -0 --separate-stderr timeout $T elog-consume -e t
	assert_equal "$stderr" ""
	assert_equal "$output" "$(seq 1 1000)"
	# an empty topic: -e returns at once
	create_topic empty 1
	run -0 timeout $T elog-consume -e empty
	assert_output ""
}

@test "-n COUNT stops after COUNT records even while following" {
	start_broker
	create_topic t 1
	seq 1 10 | produce t
	run -0 --separate-stderr timeout $T elog-consume -n 4 t
	assert_output "$(seq 1 4)"
	run -0 timeout $T elog-consume -n 0 t
	assert_output ""
	run -0 timeout $T elog-consume -e -n 100 t
	assert_output "$(seq 1 10)"
}

@test "-o latest, -o OFFSET, -o -N" {
	start_broker
	create_topic t 1
	seq 0 9 | produce t
	run -0 timeout $T elog-consume -e -o latest t
	assert_output ""
	run -0 timeout $T elog-consume -e -o 7 t
	assert_output "$(seq 7 9)"
	run -0 timeout $T elog-consume -e -o 0 t
	assert_output "$(seq 0 9)"
	run -0 timeout $T elog-consume -e -o -3 t
	assert_output "$(seq 7 9)"
	run -0 timeout $T elog-consume -e -o -100 t
	assert_output "$(seq 0 9)"
	run -0 timeout $T elog-consume -e -o earliest -n 2 t
	assert_output "$(seq 0 1)"
	run -1 --separate-stderr timeout $T elog-consume -e -o 50 t
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-consume: 't' partition 0: start offset 50 is out of range (the log holds offsets 0 to 9; its next offset is 10)"
	run -1 --separate-stderr timeout $T elog-consume -o 11 t
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "elog-consume: "*"out of range"* ]]
	# the end itself is a valid start
	run -0 timeout $T elog-consume -e -o 10 t
	assert_output ""
}

@test "-o OFFSET: partitions that do not hold it start at their end, with a warning; none holding it is an error" {
	start_broker
	create_topic t 3
	seq 0 4 | produce t -p 0
	seq 10 11 | produce t -p 1
	run -0 --separate-stderr timeout $T elog-consume -e -o 3 -f '%p %o %s\n' t
	assert_output "0 3 3
0 4 4"
	assert_equal "${#stderr_lines[@]}" 2
	[[ $stderr == *"elog-consume: warning: 't' partition 1: no offset 3 (the log holds offsets 0 to 1; its next offset is 2): starting at its end, offset 2"* ]]
	[[ $stderr == *"elog-consume: warning: 't' partition 2: no offset 3 (the log holds no records; its next offset is 0): starting at its end, offset 0"* ]]
	# a follower too, and what arrives later in the short partitions is printed
	elog_spawn follow elog-consume -o 3 -f '%p %o %s\n' t
	elog_wait_until 10 grep -q '^0 4 4$' follow.out || fail "nothing followed: $(cat follow.err)"
	echo 12 | produce t -p 1
	elog_wait_until 10 grep -q '^1 2 12$' follow.out || fail "the later record of partition 1 was not printed"
	elog_stop follow
	assert_equal "$ELOG_STOP_STATUS" 0
	assert_equal "$(grep -c warning follow.err)" 2
	# no selected partition holds it: an error, naming what one holds
	run -1 --separate-stderr timeout $T elog-consume -e -o 9 t:1,2
	assert_equal "$stderr" "elog-consume: 't' partition 1: start offset 9 is out of range (the log holds offsets 0 to 2; its next offset is 3)"
	assert_output ""
	run -0 --separate-stderr timeout $T elog-consume -e -o 2 t:1
	assert_output 12
	assert_equal "$stderr" ""
}

@test "-o -N counts from the end of each partition" {
	start_broker
	create_topic t 3
	for p in 0 1 2; do
		for i in 1 2 3 4 5; do echo "\"p$p-$i\""; done | produce t -p "$p"
	done
	run -0 timeout $T elog-consume -e -o -2 t
	assert_equal "$(sort <<<"$output")" "$(printf '"p%s-%s"\n' 0 4 0 5 1 4 1 5 2 4 2 5)"
}

@test "-o @TIME starts at the first record at or after TIME, epoch ms or RFC 3339" {
	start_broker
	create_topic t 1
	for i in 0 1 2 3 4; do
		echo "{\"timestamp\":$((1700000000000 + i * 1000)),\"value\":$i}"
	done | produce t --json
	run -0 timeout $T elog-consume -e -o @1700000002000 t
	assert_output "$(seq 2 4)"
	run -0 timeout $T elog-consume -e -o @1700000001500 t
	assert_output "$(seq 2 4)"
	run -0 timeout $T elog-consume -e -o @2023-11-14T22:13:23Z t
	assert_output "$(seq 3 4)"
	run -0 timeout $T elog-consume -e -o @2023-11-14T23:13:21.000+01:00 t
	assert_output "$(seq 1 4)"
	run -0 timeout $T elog-consume -e -o @2000-01-01 t
	assert_output "$(seq 0 4)"
	# after the newest record: nothing (the end)
	run -0 timeout $T elog-consume -e -o @2030-01-01T00:00:00Z t
	assert_output ""
	# without a zone: local time, as TZ says (POSIX "XYZ-01" is one hour east of UTC)
	TZ=XYZ-01 run -0 timeout $T elog-consume -e -o @2023-11-14T23:13:22 t
	assert_output "$(seq 2 4)"
	TZ=XYZ-01 run -0 timeout $T elog-consume -e -o '@2023-11-14 23:13:21.500' t
	assert_output "$(seq 2 4)"
	TZ=UTC run -0 timeout $T elog-consume -e -o @2023-11-14T22:13:23 t
	assert_output "$(seq 3 4)"
	# a date alone is local midnight
	TZ=XYZ+23 run -0 timeout $T elog-consume -e -o @2023-11-14 t
	assert_output ""
	TZ=XYZ-23 run -0 timeout $T elog-consume -e -o @2023-11-14 t
	assert_output "$(seq 0 4)"
}

@test "-o @-DURATION starts that long before now" {
	start_broker
	create_topic t 1
	echo '{"timestamp":1700000000000,"value":"old"}' | produce t --json
	echo '{"value":"new"}' | produce t --json
	run -0 timeout $T elog-consume -e -o @-1h t
	assert_output '"new"'
	run -0 timeout $T elog-consume -e -o @-30000d t
	assert_output '"old"
"new"'
	run -2 --separate-stderr elog-consume -e -o @-1x t
	stderr_is_usage_error 'elog-consume: -o: invalid position "@-1x": invalid timestamp "-1x": '
}

# ---------------------------------------------------------------- partitions

@test "every partition by default; TOPIC:PARTITION[,PARTITION] selects; several topics" {
	start_broker
	create_topic t 3
	create_topic u 1
	for p in 0 1 2; do
		for i in 1 2 3; do echo "\"t$p-$i\""; done | produce t -p "$p"
	done
	echo '"u-1"' | produce u
	run -0 timeout $T elog-consume -e -f '%t %p %o %s\n' t
	# interleaving between partitions is free; within one, offset order
	assert_equal "$(sort <<<"$output")" "$(for p in 0 1 2; do for o in 0 1 2; do
		echo "t $p $o \"t$p-$((o + 1))\""; done; done)"
	for p in 0 1 2; do
		assert_equal "$(grep "^t $p " <<<"$output" | cut -d' ' -f3 | tr '\n' ' ')" "0 1 2 "
	done
	run -0 timeout $T elog-consume -e t:1
	assert_output "$(printf '"t1-%s"\n' 1 2 3)"
	run -0 timeout $T elog-consume -e -f '%p %s\n' t:2,0
	assert_equal "$(sort <<<"$output")" "$(printf '0 "t0-%s"\n' 1 2 3; printf '2 "t2-%s"\n' 1 2 3)"
	run -0 timeout $T elog-consume -e -f '%t:%p %s\n' t:1 u
	assert_equal "$(sort <<<"$output")" "$(printf 't:1 "t1-%s"\n' 1 2 3; echo 'u:0 "u-1"')"
}

# ---------------------------------------------------------------- output modes

@test "values are printed raw, one per line; a tombstone is an empty line" {
	start_broker
	create_topic t 1
	printf 'plain text\ntab\there\n\xff\xfe binary\n' | produce t --raw
	echo '{"value":null}' | produce t --json
	echo '{"value":"two\nlines","value_encoding":"text"}' | produce t --json
	run -0 timeout $T elog-consume -e t
	assert_equal "$output" "$(printf 'plain text\ntab\there\n\xff\xfe binary\n\ntwo\nlines')"
}

@test "--json prints the exact envelope; binary keys, values and headers survive" {
	start_broker
	create_topic t 2
	# Lines in the encoder's canonical form, so what comes out must equal what went in.
	cat >in0.jsonl <<'EOF'
{"topic":"t","partition":0,"offset":0,"timestamp":1700000000000,"key":"user-7","headers":[["trace","ab12"],["retry",null],["trace","second"]],"value":{"id":7,"total":12.5}}
{"topic":"t","partition":0,"offset":1,"timestamp":1700000000001,"key":{"base64":"AP+A"},"headers":[[{"base64":"/w=="},{"base64":"AP8="}],["empty",""],["ctl","\u0000\u0001\u001f"]],"value":"AAH/","value_encoding":"base64"}
{"topic":"t","partition":0,"offset":2,"timestamp":1700000000002,"key":null,"headers":[],"value":"plain \"text\"\twith\nnewline","value_encoding":"text"}
{"topic":"t","partition":0,"offset":3,"timestamp":5,"key":"","headers":[],"value":null}
{"topic":"t","partition":0,"offset":4,"timestamp":1700000000004,"key":"k","headers":[],"value":"null","value_encoding":"text"}
{"topic":"t","partition":0,"offset":5,"timestamp":1700000000005,"key":"k","headers":[],"value":[1, 2 ,{"a" : "b"}]}
{"topic":"t","partition":0,"offset":6,"timestamp":1700000000006,"key":"caf\u00e9","headers":[],"value":"\"a JSON string\""}
EOF
	cat >in1.jsonl <<'EOF'
{"topic":"t","partition":1,"offset":0,"timestamp":1700000000100,"key":"42","headers":[],"value":42}
EOF
	produce t --json --keep-partition <in0.jsonl
	produce t --json --keep-partition <in1.jsonl
	run -0 --separate-stderr timeout $T elog-consume -e --json t:0
	# in0 line 7 is escaped on input; output writes the UTF-8 itself
	assert_equal "$output" "$(sed 's/caf\\u00e9/café/' in0.jsonl)"
	run -0 timeout $T elog-consume -e -J t:1
	assert_output "$(cat in1.jsonl)"
	# a number key on input is its text: "42"
	echo '{"partition":1,"timestamp":7,"key":42,"value":1}' | produce t --json --keep-partition
	run -0 timeout $T elog-consume -e -J -o 1 t:1
	assert_output '{"topic":"t","partition":1,"offset":1,"timestamp":7,"key":"42","headers":[],"value":1}'
}

@test "--json | elog-produce --json copies a topic record for record" {
	start_broker
	create_topic src 1
	create_topic dst 1
	{
		for i in $(seq 1 200); do
			printf '{"timestamp":%d,"key":{"base64":"%s"},"headers":[["i","%d"]],"value":{"i":%d}}\n' \
				"$((1700000000000 + i))" "$(printf "$(printf '\\x%02x\\xff' "$i")" | base64)" "$i" "$i"
		done
	} | produce src --json
	timeout $T elog-consume -e --json src >src.jsonl
	produce dst --json <src.jsonl
	run -0 timeout $T elog-consume -e --json dst
	assert_equal "$output" "$(sed 's/"topic":"src"/"topic":"dst"/' src.jsonl)"
	assert_equal "${#lines[@]}" 200
}

@test "-f: every token, escapes and lengths" {
	start_broker
	create_topic t 2
	echo '{"partition":1,"timestamp":1700000000123,"key":"user-7","headers":[["a","1"],["b",null],["c",""]],"value":{"id":7}}' |
		produce t --json --keep-partition
	echo '{"partition":1,"timestamp":0,"key":null,"value":null}' | produce t --json --keep-partition
	run -0 timeout $T elog-consume -e -f '%t|%p|%o|%k|%K|%s|%S|%h|%T|%D|%%\n' t:1
	assert_output 't|1|0|user-7|6|{"id":7}|8|a=1,b,c=|1700000000123|2023-11-14T22:13:20.123Z|%
t|1|1||-1||-1||0|1970-01-01T00:00:00.000Z|%'
	run -0 timeout $T elog-consume -e -f '%o\t%k\\\r\n' t:1
	assert_output "$(printf '0\tuser-7\\\r\n1\t\\\r')"
	# \0 separates records for xargs -0
	timeout $T elog-consume -e -f '%o\0' t:1 >nul.out
	assert_equal "$(od -An -c nul.out | tr -s ' ')" " 0 \\0 1 \\0"
	# no newline is added
	run -0 timeout $T elog-consume -e -f '%o' t:1
	assert_output "01"
	# %R: the value's length as a big-endian int32 (-1 for a tombstone), then binary-safe values
	timeout $T elog-consume -e -f '%R%s' t:1 >r.out
	assert_equal "$(od -An -tx1 r.out | tr -s ' \n' '  ')" " 00 00 00 08 7b 22 69 64 22 3a 37 7d ff ff ff ff "
	# \xHH and \NNN escapes (octal, up to \377)
	run -0 timeout $T elog-consume -e -f '\x41\102\x2d%o\012' t:1
	assert_output "AB-0
AB-1"
	# a null header value prints as the bare name (kcat: name=NULL)
	run -0 timeout $T elog-consume -e -n 1 -f '%h' t:1
	assert_output 'a=1,b,c='
}

# ---------------------------------------------------------------- following

@test "following: new records appear promptly; SIGTERM and SIGINT exit 0" {
	start_broker
	create_topic t 2
	elog_spawn consumer elog-consume t
	echo '"first"' | produce t -p 0
	elog_wait_until 10 grep -q '"first"' consumer.out || fail "first record not printed: $(cat consumer.err)"
	echo '"second"' | produce t -p 1
	elog_wait_until 10 grep -q '"second"' consumer.out || fail "second record not printed"
	elog_stop consumer TERM
	assert_equal "$ELOG_STOP_STATUS" 0
	assert_equal "$(cat consumer.out)" '"first"
"second"'
	assert_equal "$(cat consumer.err)" ""

	# -o latest: only records produced after the start. When it has resolved
	# "latest" is not observable, so produce until one shows up; records
	# from before its start must never appear.
	elog_spawn latest elog-consume -o latest t:0
	produce_after() {
		echo '"after"' | produce t -p 0
		grep -q '"after"' latest.out
	}
	elog_wait_until 10 produce_after || fail "following -o latest printed nothing"
	elog_stop latest INT
	assert_equal "$ELOG_STOP_STATUS" 0
	run grep -vc '^"after"$' latest.out
	assert_output 0
}

# catches_signals NAME: the spawned process has its SIGINT and SIGTERM handlers.
catches_signals() {
	local mask
	mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$(elog_pid "$1")/status" 2>/dev/null) || return 1
	[ -n "$mask" ] && (((0x$mask & 0x4002) == 0x4002))
}

@test "a signal ends a follower with 0, an unfinished -e or -n with 1" {
	start_broker
	create_topic t 1
	seq 1 3 | produce t
	# A stopped broker accepts connections but never answers: both wait.
	kill -STOP "$(elog_pid broker)"
	elog_spawn follow elog-consume t
	elog_spawn bounded elog-consume -e t
	elog_spawn counted elog-consume -n 2 t
	for p in follow bounded counted; do
		elog_wait_until 10 catches_signals "$p" || fail "$p never installed its handlers"
	done
	elog_stop follow INT
	assert_equal "$ELOG_STOP_STATUS" 0
	elog_stop bounded TERM
	assert_equal "$ELOG_STOP_STATUS" 1
	assert_equal "$(cat bounded.err)" "elog-consume: interrupted before reaching the end"
	elog_stop counted INT
	assert_equal "$ELOG_STOP_STATUS" 1
	kill -CONT "$(elog_pid broker)"
	assert_equal "$(cat follow.out follow.err bounded.out counted.out)" ""
}

@test "-e with following data: stops at the end offsets of the start" {
	start_broker
	create_topic t 1
	seq 1 5 | produce t
	run -0 timeout $T elog-consume -e t
	assert_output "$(seq 1 5)"
	seq 6 7 | produce t
	run -0 timeout $T elog-consume -e -o 5 t
	assert_output "$(seq 6 7)"
}

# ---------------------------------------------------------------- closed stdout

@test "| head -n 3 exits 0 at once, following or not, small or large topic" {
	start_broker
	create_topic small 1
	create_topic big 1
	seq 1 5 | produce small
	seq 1 200000 | produce big
	local script='timeout 20 elog-consume "$@" | head -n 3; echo "status=${PIPESTATUS[0]}"'
	# following a small topic: everything is written at once, then it waits;
	# it must notice the reader left without any new data arriving
	run -0 bash -c "$script" - small
	assert_output "$(seq 1 3; echo status=0)"
	run -0 bash -c "$script" - -e big
	assert_output "$(seq 1 3; echo status=0)"
	run -0 bash -c "$script" - big
	assert_output "$(seq 1 3; echo status=0)"
	run -0 bash -c "$script" - --json big
	assert_equal "${lines[3]}" "status=0"
}

@test "a failing stdout (full disk) is an error: one line, exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	start_broker
	create_topic t 1
	seq 1 10 | produce t
	run -1 --separate-stderr bash -c 'timeout 20 elog-consume -e t >/dev/full'
	assert_equal "$stderr" "elog-consume: cannot write to stdout: No space left on device"
}

# ---------------------------------------------------------------- notices

# child_named PARENT NAME — the PID of PARENT's child or grandchild called NAME.
child_named() {
	local stat pid ppid comm
	for stat in /proc/[0-9]*/stat; do
		read -r pid comm _ ppid _ 2>/dev/null <"$stat" || continue
		[ "$comm" = "($2)" ] || continue
		if [ "$ppid" = "$1" ] || grep -q "^PPid:[[:space:]]*$1\$" "/proc/$ppid/status" 2>/dev/null; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# wrote_something PID — the process has written to a file (its output has begun).
wrote_something() {
	[ "$(sed -n 's/^wchar: //p' "/proc/$1/io" 2>/dev/null)" -gt 0 ]
}

@test "the end notice: once per partition, empty ones too, right after the last record, before any record produced later" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker
	create_topic t 3
	seq 1 100000 | produce t -p 0
	echo '"p1"' | produce t -p 1
	# partition 2 is empty
	elog_spawn term script -qfec "elog-consume t" typescript
	local consumer
	elog_wait_until 10 child_named "$(elog_pid term)" elog-consume >/dev/null ||
		fail "no elog-consume under script"
	consumer=$(child_named "$(elog_pid term)" elog-consume)
	# Stop the terminal's reader: the consumer blocks writing to it once the
	# terminal's buffer is full, long before its 100000 records are out.
	kill -STOP "$(elog_pid term)"
	elog_wait_until 10 wrote_something "$consumer" || fail "the consumer printed nothing"
	# It has resolved the ends of the start (0: 100000, 1: 1, 2: 0); these come later.
	echo '"later-0"' | produce t -p 0
	echo '"later-2"' | produce t -p 2
	kill -CONT "$(elog_pid term)"
	seen_later() { tr -d '\r' <typescript | grep -q '^"later-0"$' && tr -d '\r' <typescript | grep -q '^"later-2"$'; }
	elog_wait_until 20 seen_later || fail "the later records were not printed: $(tail -n 5 typescript)"
	kill -TERM "$consumer"
	elog_stop term
	tr -d '\r' <typescript >out
	run grep -c 'reached the end' out
	assert_output 3
	# each notice where it belongs: after the partition's last record of the
	# start, before its later records
	local n0 n1 n2 last0 later0 p1 later2
	n0=$(grep -n "^elog-consume: 't' partition 0: reached the end at offset 100000; following$" out | cut -d: -f1)
	n1=$(grep -n "^elog-consume: 't' partition 1: reached the end at offset 1; following$" out | cut -d: -f1)
	n2=$(grep -n "^elog-consume: 't' partition 2: reached the end at offset 0; following$" out | cut -d: -f1)
	last0=$(grep -n '^100000$' out | cut -d: -f1)
	later0=$(grep -n '^"later-0"$' out | cut -d: -f1)
	p1=$(grep -n '^"p1"$' out | cut -d: -f1)
	later2=$(grep -n '^"later-2"$' out | cut -d: -f1)
	[ -n "$n0" ] && [ -n "$n1" ] && [ -n "$n2" ] || fail "notices: $(grep 'elog-consume' out)"
	[ "$n0" -gt "$last0" ] && [ "$n0" -lt "$later0" ] || fail "partition 0: notice at line $n0, last record at $last0, later record at $later0"
	[ "$n1" -gt "$p1" ] || fail "partition 1: notice at line $n1, its record at $p1"
	[ "$n2" -lt "$later2" ] || fail "partition 2: notice at line $n2, later record at $later2"
	# -q: none
	run -0 script -qec "timeout $T elog-consume -n 2 t:1,2" /dev/null
	assert_output --partial 'reached the end'
	run -0 script -qec "timeout $T elog-consume -q -n 2 t:1,2" /dev/null
	refute_output --partial 'reached the end'
}
