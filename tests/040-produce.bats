#!/usr/bin/env bats
# elog-produce: usage; JSON checking, rejects and --reject; keys (-k, -K) and
# partitions (murmur2, -p); headers; --raw; --json round trips; compression;
# acks; delivery failures. Each test that needs a broker starts its own
# elog-serve on a free loopback port with its data in $ELOG_TMP/data, and
# reads the results back with elog-consume (-e: up to the end, then exit).

bats_require_minimum_version 1.5.0
load helpers

USAGE='usage: elog-produce [-hq] [-a acks] [-b brokers] [-H name=value] [-i file] [-k field | -K delim] [-p partition] [-z codec] [--json [--keep-partition] | --raw] [--batch-size size] [--linger duration] [--max-record-bytes size] [--no-idempotence] [--reject file] [--timeout duration] [--version] topic'

setup() {
	elog_setup
	need elog-produce
	cd "$ELOG_TMP"
}

# need PROGRAM... — fail when a binary the test needs was not built.
need() {
	elog_need "$@"
}

# start_broker [ARGS...] — elog-serve on a free port; ELOG_BROKERS points at it.
start_broker() {
	need elog-serve elog-topic elog-consume
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 "$@"
	elog_broker_wait broker
	export ELOG_BROKERS=$ELOG_ADDR
}

# records TOPIC FORMAT — every record of TOPIC up to its current end, as elog-consume -f prints.
records() {
	elog-consume -e -q -f "$2" "$1"
}

# count_is TOPIC N — true once TOPIC holds N records.
count_is() {
	[ "$(elog-consume -e -q -f '.' "$1" | wc -c)" -eq "$2" ]
}

# ---------------------------------------------------------------- usage

@test "--help: usage line, summary and every option on stdout, exit 0" {
	run -0 --separate-stderr elog-produce --help
	assert_line --index 0 "$USAGE"
	assert_line --regexp '^  -k, --key-field=FIELD +key from'
	assert_line --regexp '^      --reject=FILE +write rejected lines'
	assert_line --regexp '^  -h, --help +print this help and exit$'
	assert_equal "$stderr" ""
	run -0 elog-produce -h
	assert_line --index 0 "$USAGE"
	run -0 elog-produce --version
	assert_output --regexp '^elog-produce \(elog\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "bad command lines: one reason and the usage line on stderr, exit 2" {
	run -2 --separate-stderr elog-produce --bogus t
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-produce: unrecognized option '--bogus'
$USAGE"
	run -2 --separate-stderr elog-produce
	assert_equal "$stderr" "elog-produce: missing topic
$USAGE"
	run -2 --separate-stderr elog-produce t data.json
	assert_equal "$stderr" "elog-produce: unexpected argument \"data.json\" (files are read with -i FILE)
$USAGE"
	run -2 --separate-stderr elog-produce -a 2 t
	assert_equal "$stderr" "elog-produce: --acks: expected 0, 1 or all, not \"2\"
$USAGE"
	run -2 --separate-stderr elog-produce -z gzip t
	assert_equal "$stderr" "elog-produce: --compression: expected none, lz4 or zlib, not \"gzip\"
$USAGE"
	run -2 --separate-stderr elog-produce -k id -K , t
	assert_equal "$stderr" "elog-produce: -k and -K exclude each other
$USAGE"
	run -2 --separate-stderr elog-produce --json -k id t
	assert_equal "$stderr" "elog-produce: --json takes the key from the envelope: no -k or -K
$USAGE"
	run -2 --separate-stderr elog-produce --json --raw t
	assert_equal "$stderr" "elog-produce: --json and --raw exclude each other
$USAGE"
	run -2 --separate-stderr elog-produce --raw -k id t
	assert_equal "$stderr" "elog-produce: -k needs JSON lines: not with --raw
$USAGE"
	run -2 --separate-stderr elog-produce -H novalue t
	assert_equal "$stderr" "elog-produce: -H: expected NAME=VALUE, not \"novalue\"
$USAGE"
	run -2 elog-produce -p -1 t
	assert_line --index 0 --partial 'elog-produce: --partition: invalid number'
	run -2 elog-produce --linger 5 t
	assert_line --index 0 --partial 'elog-produce: --linger: '
	run -2 elog-produce --timeout 0 t
	assert_line --index 0 "elog-produce: --timeout: 0 is outside 1ms..12d"
	run -2 elog-produce 'bad topic'
	assert_line --index 0 --partial 'elog-produce: topic name has a byte other than'
	run -2 elog-produce __meta
	assert_line --index 0 "elog-produce: topic names starting with '__' are reserved"
}

@test "an input that cannot be opened: exit 1 before anything is sent" {
	run -1 --separate-stderr elog-produce -b 127.0.0.1:1 -i missing.json t
	assert_equal "$stderr" "elog-produce: missing.json: cannot open: No such file or directory"
}

@test "the man page synopsis is the usage line" {
	command -v groff >/dev/null || skip "groff is not installed"
	local synopsis
	synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-o -P-u -rLL=300n "$ELOG_REPO/man/elog-produce.1" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
	assert_equal "usage: $synopsis" "$USAGE"
}

@test "the man page is clean mdoc" {
	command -v groff >/dev/null || skip "groff is not installed"
	run -0 --separate-stderr groff -mdoc -Tutf8 -z -ww "$ELOG_REPO/man/elog-produce.1"
	assert_equal "$stderr" ""
}

@test "the completions offer exactly the options --help lists" {
	local help bash zsh
	run -0 elog-produce --help
	help=$(grep -oE -- '(^| )--?[a-zA-Z][a-zA-Z-]*' <<<"$output" | tr -d ' ' | sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-produce" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)']--?[a-zA-Z][a-zA-Z-]*" "$ELOG_REPO/completions/zsh/_elog-produce" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-produce"
	if command -v zsh >/dev/null; then
		zsh -n "$ELOG_REPO/completions/zsh/_elog-produce"
	fi
}

# ---------------------------------------------------------------- delivery

@test "100k JSON lines over 3 partitions: each once, in order per partition" {
	start_broker
	elog-topic create -p 3 big
	awk 'BEGIN { pad = "0123456789012345678901234567890123456789012345678901234567890123456789012345"
		for (i = 1; i <= 100000; i++) printf "{\"n\":%d,\"pad\":\"%s\"}\n", i, pad }' >in.jsonl
	run -0 --separate-stderr elog-produce -a 1 -i in.jsonl big
	assert_equal "$stderr" ""
	records big '%p %s\n' >out
	[ "$(wc -l <out)" -eq 100000 ]
	# within each partition n only grows; all partitions were used
	run -0 awk '{ split($2, f, /[:,]/); n = f[2] + 0
		if (n <= last[$1]) { print "partition " $1 ": " n " after " last[$1]; bad = 1 }
		last[$1] = n } END { exit bad }' out
	[ "$(cut -d' ' -f1 out | sort -u | wc -l)" -eq 3 ]
	# together: every line exactly once, byte for byte
	cut -d' ' -f2- out | sort >got
	sort in.jsonl >want
	cmp got want
}

@test "one partition: the values are the input lines, byte for byte, in order" {
	start_broker
	elog-topic create one
	awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "{\"i\":%d,\"s\":\"caf\\u00e9 \\\"%d\\\"\",\"a\":[1, 2.5e3, null, true]}\n", i, i }' >in.jsonl
	elog-produce one <in.jsonl
	records one '%s\n' >out
	cmp out in.jsonl
}

@test "invalid lines: reported with their numbers, written to --reject as read, the rest delivered, exit 1" {
	start_broker
	elog-topic create bad
	printf '{"ok":1}\n{"a":1,}\nnope\n{"ok":2}\r\n{"a":01}\n\n{"ok":3}' >in.jsonl
	run -1 --separate-stderr elog-produce --reject rejects.txt -i in.jsonl bad
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-produce: in.jsonl: line 2: invalid JSON: unexpected '}' at byte 7, expected a member name
elog-produce: in.jsonl: line 3: invalid JSON: invalid literal at byte 0
elog-produce: in.jsonl: line 5: invalid JSON: invalid number at byte 5 (leading zero)
elog-produce: in.jsonl: line 6: invalid JSON: empty input
elog-produce: 4 of 7 lines rejected"
	printf '{"a":1,}\nnope\n{"a":01}\n\n' >expected
	cmp rejects.txt expected
	# the CR of a CRLF line is dropped; the last line needs no newline
	run -0 records bad '%s\n'
	assert_output '{"ok":1}
{"ok":2}
{"ok":3}'
}

@test "rejects from stdin name no file; with -i - it is called stdin" {
	start_broker
	elog-topic create rs
	run -1 --separate-stderr elog-produce rs <<<'[1,2'
	assert_equal "$stderr" "elog-produce: line 1: invalid JSON: unexpected end of input at byte 4, expected ',' or ']'
elog-produce: 1 of 1 lines rejected"
	printf '{"a":1}\n' >first.json
	run -1 --separate-stderr elog-produce -i first.json -i - rs <<<'x'
	assert_equal "$stderr" "elog-produce: stdin: line 1: invalid JSON: unexpected 'x' at byte 0, expected a value
elog-produce: 1 of 2 lines rejected"
	run -0 records rs '%s\n'
	assert_output '{"a":1}'
}

@test "a line longer than --max-record-bytes is rejected whole, and kept whole by --reject" {
	start_broker
	elog-topic create long
	printf '{"a":1}\n{"long":"0123456789012345678901234567890123456789"}\n{"b":2}\n' >in.jsonl
	run -1 --separate-stderr elog-produce --max-record-bytes 16 --reject r.txt -i in.jsonl long
	assert_equal "$stderr" "elog-produce: in.jsonl: line 2: line longer than 16 bytes
elog-produce: 1 of 3 lines rejected"
	sed -n 2p in.jsonl | cmp - r.txt
	run -0 records long '%s\n'
	assert_output '{"a":1}
{"b":2}'
	# the limit is on what the broker counts: key, value, header names and values
	run -1 --separate-stderr elog-produce --max-record-bytes 20 -H pad=0123456789 long <<<'{"a":12345678}'
	assert_equal "$stderr" "elog-produce: line 1: record too large: 27 bytes with key and headers, the limit is 20
elog-produce: 1 of 1 lines rejected"
}

@test "--raw: any bytes but newline, kept exactly" {
	start_broker
	elog-topic create raw
	printf 'plain text\n{"x":1}\nwith\ttab, \\ and CR\r\n\n\001\377 bytes\n' >in.txt
	run -0 --separate-stderr elog-produce --raw -i in.txt raw
	assert_equal "$stderr" ""
	records raw '%s\n' | cmp - in.txt
	run -0 records raw '%S\n'
	assert_output '10
7
19
0
8'
}

# ---------------------------------------------------------------- keys, partitions, headers

@test "-k: one key, one partition; a known key's partition is Kafka's murmur2 one" {
	start_broker
	elog-topic create -p 7 keyed
	local keys=(21 foobar abc a-little-bit-long-string user-7) i k
	for ((i = 0; i < 500; i++)); do
		k=${keys[i % 5]}
		printf '{"i":%d,"user":"%s"}\n' "$i" "$k"
	done >in.jsonl
	printf '{"i":500,"user":21}\n' >>in.jsonl # a number key: its text, so "21" again
	run -0 --separate-stderr elog-produce -k user -i in.jsonl keyed
	assert_equal "$stderr" ""
	records keyed '%k %p\n' | sort -u >pairs
	[ "$(wc -l <pairs)" -eq 5 ] # each key in exactly one partition
	# Kafka's UtilsTest vectors: murmur2("21") = -973932308, ("foobar") = -790332482,
	# ("abc") = 479470107, ("a-little-bit-long-string") = -985981536
	grep -qx "21 $(((-973932308 & 0x7fffffff) % 7))" pairs
	grep -qx "foobar $(((-790332482 & 0x7fffffff) % 7))" pairs
	grep -qx "abc $((479470107 % 7))" pairs
	grep -qx "a-little-bit-long-string $(((-985981536 & 0x7fffffff) % 7))" pairs
	# per key, the records are in input order
	run -0 bash -c "elog-consume -e -q -f '%k %s\n' keyed | awk '{ split(\$2, f, /[:,]/); n = f[2] + 0
		if (\$1 in last && n <= last[\$1]) exit 1; last[\$1] = n }'"
}

@test "-k: a missing or null field gives a null key (warned once); an object is rejected" {
	start_broker
	elog-topic create kf
	printf '{"id":"a","v":1}\n{"v":2}\n{"id":null}\n{"id":{"x":1}}\n[1]\n{"id":"b\\u0041"}\n' >in.jsonl
	run -1 --separate-stderr elog-produce -k id -i in.jsonl kf
	assert_equal "$stderr" "elog-produce: warning: in.jsonl: line 2: no field \"id\": sent with a null key (reported once)
elog-produce: in.jsonl: line 4: key field \"id\" is an object, not a string or a number
elog-produce: 1 of 6 lines rejected"
	run -0 records kf '%K %k %s\n'
	assert_output '1 a {"id":"a","v":1}
-1  {"v":2}
-1  {"id":null}
-1  [1]
2 bA {"id":"b\u0041"}'
}

@test "-K: key DELIM value; without the delimiter a null key; the value must still be JSON" {
	start_broker
	elog-topic create kd
	printf 'k1::{"a":1}\nk2::[2]\n{"no":"delim"}\nk3::bad\n::{"empty":"key"}\n' >in.txt
	run -1 --separate-stderr elog-produce -K :: kd <in.txt
	assert_equal "$stderr" "elog-produce: warning: line 3: no key delimiter: sent with a null key (reported once)
elog-produce: line 4: invalid JSON value: unexpected 'b' at byte 0, expected a value
elog-produce: 1 of 5 lines rejected"
	run -0 records kd '%K %k %s\n'
	assert_output '2 k1 {"a":1}
2 k2 [2]
-1  {"no":"delim"}
0  {"empty":"key"}'
	# with --raw the value is anything
	run -0 elog-produce --raw -K $'\t' kd <<<$'k4\tnot json'
	run -0 bash -c "elog-consume -e -q -f '%k=%s\n' kd | tail -n 1"
	assert_output 'k4=not json'
}

@test "-H: headers on every record, in order, repeats kept" {
	start_broker
	elog-topic create hd
	run -0 elog-produce -H trace=abc -H env=prod -H 'eq=a=b' -H env=dev hd <<<'{"a":1}'
	run -0 records hd '%h\n'
	assert_output 'trace=abc,env=prod,eq=a=b,env=dev'
}

@test "-p: every record to one partition; a partition the topic lacks is an error" {
	start_broker
	elog-topic create -p 3 pt
	seq 1 50 | elog-produce -p 2 pt
	run -0 bash -c "elog-consume -e -q -f '%p\n' pt | sort -u"
	assert_output '2'
	run -1 --separate-stderr elog-produce -p 3 pt <<<'1'
	assert_equal "$stderr" "elog-produce: partition 3 out of range: topic 'pt' has 3 partitions"
}

# ---------------------------------------------------------------- --json

@test "--json: consume -J | produce --json copies key, headers, value and timestamp byte for byte" {
	start_broker
	elog-topic create -p 2 src
	elog-topic create -p 2 dst
	printf '{"user":"u%d","n":%d,"s":"\\u00e9\\t"}\n' 1 1 2 2 3 3 4 4 | elog-produce -k user -H h=1 -H h= src
	printf 'text value\n\377\376 not utf-8\n' | elog-produce --raw -p 1 -H 'bin=x' src
	elog-consume -e -q -J src >a.jsonl
	[ "$(wc -l <a.jsonl)" -eq 6 ]
	grep -q '"value_encoding":"base64"' a.jsonl
	grep -q '"value_encoding":"text"' a.jsonl
	# an exact replay keeps each record's partition
	run -0 --separate-stderr elog-produce --json --keep-partition -i a.jsonl dst
	assert_equal "$stderr" ""
	elog-consume -e -q -J dst | sed 's/^{"topic":"dst",/{"topic":"src",/' | sort >b.sorted
	sort a.jsonl >a.sorted
	cmp a.sorted b.sorted
}

# orders TOPIC N — N keyed orders (ids 1..N, 12 keys, totals 1..200) into TOPIC.
orders() {
	awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++)
		printf "{\"id\":%d,\"customer\":\"c%d\",\"total\":%d}\n", i, i % 12, (i * 37) % 200 + 1 }' >orders.jsonl
	elog-produce -k customer -i orders.jsonl "$1" || fail "cannot produce the orders"
}

@test "the README pipeline: consume --json | filter | produce --json into topics of 1 and 3 partitions" {
	start_broker
	elog-topic create -p 6 orders
	elog-topic create -p 1 big-orders-1
	elog-topic create -p 3 big-orders-3
	orders orders 3000
	# The README's filter is jq's select(.value.total > 100); awk does it
	# here so that the test needs no jq.
	local filter='awk -F"\"total\":" "{ split(\$2, a, /[,}]/); if (a[1] + 0 > 100) print }"'
	for n in 1 3; do
		run -0 --separate-stderr bash -c "set -o pipefail
			elog-consume -e --json orders | $filter | elog-produce --json big-orders-$n"
		assert_equal "$stderr" ""
	done
	awk -F'"total":' '{ split($2, a, /[,}]/); if (a[1] + 0 > 100) print }' orders.jsonl | sort >want
	[ "$(wc -l <want)" -gt 1000 ]
	for n in 1 3; do
		records "big-orders-$n" '%s\n' | sort >got
		cmp want got
	done
	# the key decides the partition in the target: one partition per key, all 3 used
	records big-orders-3 '%k %p\n' | sort -u >pairs
	[ "$(wc -l <pairs)" -eq 12 ]
	[ "$(cut -d' ' -f2 pairs | sort -u | wc -l)" -eq 3 ]
	# keys, headers and timestamps came along: the same as the source's
	records orders '%k %T %s\n' | awk -F'"total":' '{ split($2, a, /[,}]/); if (a[1] + 0 > 100) print }' |
		sort >want.full
	records big-orders-3 '%k %T %s\n' | sort | cmp want.full -
}

@test "--keep-partition: an exact replay; a partition the target lacks rejects the line" {
	start_broker
	elog-topic create -p 6 orders
	elog-topic create -p 6 replay
	elog-topic create -p 3 small
	orders orders 600
	elog-consume -e -q --json orders >all.jsonl
	run -0 --separate-stderr elog-produce --json --keep-partition -i all.jsonl replay
	assert_equal "$stderr" ""
	records orders '%p %o %k %s\n' | sort >want
	records replay '%p %o %k %s\n' | sort | cmp want -
	# into 3 partitions, the records of partitions 3-5 cannot keep theirs
	run -1 --separate-stderr elog-produce --json --keep-partition -i all.jsonl small
	assert_regex "${stderr_lines[0]}" '^elog-produce: all.jsonl: line [0-9]+: partition [345] out of range: the topic has 3$'
	local kept
	kept=$(awk -F'"partition":' '{ split($2, a, /,/); if (a[1] < 3) n++ } END { print n }' all.jsonl)
	assert_equal "${stderr_lines[-1]}" "elog-produce: $((600 - kept)) of 600 lines rejected"
	[ "$(records small '.' | wc -c)" -eq "$kept" ]
	# options that do not go with it
	run -2 --separate-stderr elog-produce --keep-partition small
	assert_equal "${stderr_lines[0]}" "elog-produce: --keep-partition needs --json"
	run -2 --separate-stderr elog-produce --json --keep-partition -p 1 small
	assert_equal "${stderr_lines[0]}" "elog-produce: -p and --keep-partition exclude each other"
}

@test "--json: a bad envelope is rejected with the reason" {
	start_broker
	elog-topic create env
	printf '{"value":1}\n{"valu":1}\n{"key":"k","value":{"a":1},"timestamp":1700000000000}\n' >in.jsonl
	run -1 elog-produce --json -i in.jsonl env
	assert_line --index 0 --regexp '^elog-produce: in.jsonl: line 2: invalid envelope: unknown member "valu"'
	assert_line --index 1 'elog-produce: 1 of 3 lines rejected'
	run -0 records env '%k|%T|%s\n'
	assert_line --index 1 'k|1700000000000|{"a":1}'
}

# ---------------------------------------------------------------- batching, compression, acks

@test "-z lz4 and zlib: batches stored compressed, records unchanged" {
	start_broker
	local codec
	awk 'BEGIN { for (i = 1; i <= 3000; i++) printf "{\"i\":%d,\"text\":\"the same words again and again and again\"}\n", i }' >in.jsonl
	for codec in lz4 zlib none; do
		elog-topic create "z-$codec"
		run -0 --separate-stderr elog-produce -z "$codec" --batch-size 64k -i in.jsonl "z-$codec"
		assert_equal "$stderr" ""
		records "z-$codec" '%s\n' | cmp - in.jsonl
		run -0 elog-dump "$ELOG_TMP/data/z-$codec/0"
		assert_line --index 0 --partial " compression=$codec "
		refute_output --partial " compression=$([ "$codec" = none ] && echo lz4 || echo none) "
	done
}

@test "acks 0, 1 and all: every line arrives, exit 0" {
	start_broker
	local a
	seq 1 2000 >in.jsonl
	for a in 0 1 all; do
		elog-topic create "acks-$a"
		run -0 --separate-stderr elog-produce -a "$a" -i in.jsonl "acks-$a"
		assert_equal "$stderr" ""
		# acks=0: exit 0 means written to the connection; the broker appends soon after
		elog_wait_until 10 count_is "acks-$a" 2000 || fail "acks=$a: not every record arrived"
		records "acks-$a" '%s\n' | cmp - in.jsonl
	done
	run -0 elog-produce -a 1 --no-idempotence --linger 0 acks-1 <<<'2001'
	elog_wait_until 10 count_is acks-1 2001
}

# ---------------------------------------------------------------- failures

@test "no broker: exit 1 within --timeout, the reason in one line, input not read" {
	need elog-serve
	start_broker
	elog_stop broker # its port is now closed
	SECONDS=0
	run -1 --separate-stderr elog-produce --timeout 1s t <<<'{"a":1}'
	[ "$SECONDS" -le 5 ]
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^elog-produce: nothing delivered: .*cannot connect to $ELOG_BROKERS: connection refused$"
}

@test "the broker goes away mid-stream: how many lines were not delivered and the first, exit 1" {
	start_broker
	elog-topic create mid
	mkfifo fifo
	elog_spawn producer elog-produce -a 1 --linger 0 --timeout 2s -i fifo mid
	exec 5>fifo
	for i in $(seq 1 10); do echo "{\"i\":$i}" >&5; done
	elog_wait_until 10 count_is mid 10 || fail "the first 10 lines did not arrive"
	elog_stop broker
	for i in $(seq 11 15); do echo "{\"i\":$i}" >&5; done
	exec 5>&-
	elog_wait_until 15 elog_exited "$(elog_pid producer)" || fail "elog-produce did not give up"
	elog_stop producer
	assert_equal "$ELOG_STOP_STATUS" 1
	run cat "$ELOG_TMP/producer.err"
	assert_equal "${#lines[@]}" 1
	assert_regex "$output" '^elog-produce: 5 lines not delivered \(the first is fifo: line 11\): .+'
}

@test "SIGTERM: stops reading, settles what was sent, says where it stopped, exit 1" {
	start_broker
	elog-topic create sig
	mkfifo fifo
	elog_spawn producer elog-produce --linger 0 -i fifo sig
	exec 5>fifo
	for i in 1 2 3; do echo "{\"i\":$i}" >&5; done
	elog_wait_until 10 count_is sig 3 || fail "the lines did not arrive"
	elog_stop producer TERM
	exec 5>&-
	assert_equal "$ELOG_STOP_STATUS" 1
	run cat "$ELOG_TMP/producer.err"
	assert_output "elog-produce: interrupted, input not read past fifo: line 3; every line read was delivered"
}

@test "a topic that does not exist: created by the broker before the first record, or an error at the start" {
	start_broker -c <(printf 'default.partitions = 3\n')
	seq 1 100 >in.jsonl
	run -0 --separate-stderr elog-produce -i in.jsonl fresh
	assert_equal "$stderr" ""
	run -0 elog-topic list
	assert_line --regexp '^fresh	3	[0-9]+$'
	records fresh '%s\n' | sort -n | cmp - in.jsonl
	# keyed records of a new topic are placed by key from the first one on:
	# key "a" is murmur2's partition 1 of 3
	printf '{"k":"a","i":%d}\n' 1 2 3 4 5 >keyed.jsonl
	run -0 elog-produce -k k -i keyed.jsonl fresh-keyed
	run -0 records fresh-keyed '%p\n'
	assert_output "$(printf '1\n%.0s' 1 2 3 4 5)"
	elog_stop broker
	printf 'auto_create_topics = false\n' >noauto.conf
	rm -f broker.err
	start_broker -c noauto.conf
	run -1 --separate-stderr elog-produce -i in.jsonl absent
	assert_equal "$stderr" "elog-produce: nothing delivered: produce to 'absent': no such topic, and the broker does not create topics (auto_create_topics is off)"
	run -0 elog-topic list
	refute_output --partial absent
}

@test "progress on a terminal: records/s and MB/s refreshed with \\r; -q silences it" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker
	elog-topic create prog
	seq 1 3000 >in.jsonl
	run -0 script -qec "{ cat in.jsonl; sleep 1.2; cat in.jsonl; } | elog-produce -a 1 prog" /dev/null
	assert_output --regexp $'\relog-produce: [0-9]+ records, [0-9]+ records/s, [0-9.]+ MB/s\e\\[K'
	# the line is erased at the end
	[[ $output == *$'\r\e[K' ]]
	run -0 script -qec "{ cat in.jsonl; sleep 1.2; cat in.jsonl; } | elog-produce -q -a 1 prog" /dev/null
	assert_output ''
	elog_wait_until 10 count_is prog 12000
}

@test "progress: \"1 record\"; never while stdin is a terminal or the job is in the background" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker
	elog-topic create prog
	run -0 script -qec "{ echo 1; sleep 1.2; } | elog-produce -a 1 prog" /dev/null
	assert_output --regexp $'\relog-produce: 1 record, [0-9]+ records/s, [0-9.]+ MB/s\e\\[K'
	refute_output --partial '1 records'
	# stdin is the terminal (someone may type there): no progress line
	run -0 script -qec "bash -c 'elog-produce -a 1 -i <(echo 2; sleep 1.2) prog'" /dev/null
	assert_output ''
	# a background job (its own process group, not the terminal's): none either
	run -0 script -qec "bash -c 'set -m; { echo 3; sleep 1.2; } | elog-produce -a 1 prog & wait \$!'" /dev/null
	refute_output --partial 'record'
	elog_wait_until 10 count_is prog 3
}
