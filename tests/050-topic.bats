#!/usr/bin/env bats
# elog-topic: usage; create / alter / delete / list / describe against a
# real elog-serve (on a free loopback port, data in $ELOG_TMP/data); TSV,
# table and JSON output; errors and their exit codes.

bats_require_minimum_version 1.5.0
load helpers

USAGE='usage: elog-topic [-b brokers] create [-p partitions] [-r replicas] [-c key=value] [--if-not-exists] [config-options] topic ...
       elog-topic [-b brokers] alter [-p partitions] [-c key=value] [config-options] topic ...
       elog-topic [-b brokers] delete [--if-exists] topic ...
       elog-topic [-b brokers] purge [-jn] --before position topic[:partition[,partition...]] ...
       elog-topic [-b brokers] list [-j]
       elog-topic [-b brokers] describe [-j] [topic ...]
       elog-topic -h | --version'

# The broker's defaults, as describe prints them (docs/operations.md).
DEFAULT_CONFIG='cleanup.policy	delete
delete.retention.ms	86400000
flush	1s
max.batch.bytes	16777216
max.record.bytes	16777216
retention.bytes	-1
retention.ms	-1
segment.bytes	134217728
segment.ms	0'

setup() {
	elog_setup
	need elog-topic
	cd "$ELOG_TMP"
}

# need PROGRAM... — fail when a binary the test needs was not built.
need() {
	elog_need "$@"
}

# start_broker [ARGS...] — elog-serve on a free port; ELOG_BROKERS points at it.
start_broker() {
	need elog-serve
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 "$@"
	elog_broker_wait broker
	export ELOG_BROKERS=$ELOG_ADDR
}

# config_lines TOPIC — the default config as describe's TSV config lines of TOPIC.
config_lines() {
	sed "s/^/config	$1	/" <<<"$DEFAULT_CONFIG"
}

# ---------------------------------------------------------------- usage

@test "--help: the usage lines, summary and every option on stdout, exit 0" {
	run -0 --separate-stderr elog-topic --help
	assert_equal "$(sed '/^$/,$d' <<<"$output")" "$USAGE"
	assert_line --regexp '^  -p, --partitions=N +partitions'
	assert_line --regexp '^      --retention=DURATION +retention.ms'
	assert_equal "$stderr" ""
	run -0 elog-topic --version
	assert_output --regexp '^elog-topic \(elog\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "bad command lines: one reason and the usage on stderr, exit 2" {
	run -2 --separate-stderr elog-topic
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-topic: missing command: create, alter, delete, purge, list or describe
$USAGE"
	run -2 --separate-stderr elog-topic frobnicate t
	assert_equal "$stderr" "elog-topic: unknown command \"frobnicate\"
$USAGE"
	run -2 elog-topic create
	assert_line --index 0 "elog-topic: create: missing topic"
	run -2 elog-topic delete --retention 7d t
	assert_line --index 0 "elog-topic: --retention does not apply to delete"
	run -2 elog-topic list -p 3
	assert_line --index 0 "elog-topic: --partitions does not apply to list"
	run -2 elog-topic create --json t
	assert_line --index 0 "elog-topic: --json does not apply to create"
	run -2 elog-topic list t
	assert_line --index 0 "elog-topic: list takes no topic"
	run -2 elog-topic alter t
	assert_line --index 0 "elog-topic: alter: nothing to change: give --partitions or a config option"
	run -2 elog-topic create -p 0 t
	assert_line --index 0 'elog-topic: --partitions: number "0" out of range 1..4294967295'
	run -2 elog-topic create -c retention.ms t
	assert_line --index 0 'elog-topic: --config: expected KEY=VALUE, not "retention.ms"'
	run -2 elog-topic create 'a/b'
	assert_line --index 0 --partial 'elog-topic: topic name has a byte other than'
	run -2 elog-topic --bogus list
	assert_line --index 0 "elog-topic: unrecognized option '--bogus'"
}

@test "the man page synopsis is the usage" {
	command -v groff >/dev/null || skip "groff is not installed"
	local synopsis
	synopsis=$(groff -mdoc -Tascii -P-c -P-b -P-o -P-u -rLL=300n "$ELOG_REPO/man/elog-topic.1" |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
	assert_equal "usage: $synopsis" "$(tr -s ' \n' '  ' <<<"$USAGE" | sed 's/ $//')"
}

@test "the man page is clean mdoc" {
	command -v groff >/dev/null || skip "groff is not installed"
	run -0 --separate-stderr groff -mdoc -Tutf8 -z -ww "$ELOG_REPO/man/elog-topic.1"
	assert_equal "$stderr" ""
}

@test "the completions offer exactly the options --help lists, and the commands" {
	local help bash zsh
	run -0 elog-topic --help
	help=$(grep -oE -- '(^| )--?[a-zA-Z][a-zA-Z-]*' <<<"$output" | tr -d ' ' | sort -u)
	[ -n "$help" ]
	bash=$(sed -n "s/^[[:space:]]*local opts='\(.*\)'$/\1/p" "$ELOG_REPO/completions/bash/elog-topic" |
		tr ' ' '\n' | sort -u)
	zsh=$(grep -oE -- "[{,)']--?[a-zA-Z][a-zA-Z-]*" "$ELOG_REPO/completions/zsh/_elog-topic" |
		cut -c2- | sort -u)
	assert_equal "$bash" "$help"
	assert_equal "$zsh" "$help"
	bash -n "$ELOG_REPO/completions/bash/elog-topic"
	grep -q "local commands='create alter delete purge list describe'" "$ELOG_REPO/completions/bash/elog-topic"
	for c in create alter delete purge list describe; do
		grep -q "'$c:" "$ELOG_REPO/completions/zsh/_elog-topic"
	done
	# bash offers the commands for the first word
	run -0 bash -c "source '$ELOG_REPO/completions/bash/elog-topic'
		COMP_LINE='elog-topic -b x d'; COMP_POINT=\${#COMP_LINE}; _elog_topic; echo \${COMPREPLY[*]}"
	assert_output 'delete describe'
	if command -v zsh >/dev/null; then
		zsh -n "$ELOG_REPO/completions/zsh/_elog-topic"
	fi
}

# ---------------------------------------------------------------- commands

@test "create, list, describe: TSV when stdout is not a terminal" {
	start_broker
	run -0 --separate-stderr elog-topic create -p 3 orders
	assert_equal "$output$stderr" ""
	run -0 elog-topic create alpha
	run -0 --separate-stderr elog-topic list
	assert_output "alpha	1	1
orders	3	1"
	run -0 elog-topic describe alpha
	assert_output "topic	alpha	1	1
$(config_lines alpha)
partition	alpha	0	0	0	0	0	0	0	1	ok"
	# every topic, by name
	run -0 elog-topic describe
	assert_line --index 0 "topic	alpha	1	1"
	assert_line --index 11 "topic	orders	3	1"
	assert_line --index 23 "partition	orders	2	0	0	0	0	0	0	1	ok"
	assert_equal "${#lines[@]}" 24
}

@test "create with config options and -c; describe shows the broker's values" {
	start_broker
	run -0 --separate-stderr elog-topic create --retention 7d --retention-bytes 1G \
		--segment-bytes 1M --flush always --max-record-bytes 1k -c segment.ms=1h \
		-c retention.ms=2d cfg
	assert_equal "$stderr" ""
	run -0 bash -c "elog-topic describe cfg | grep '^config'"
	assert_output "config	cfg	cleanup.policy	delete
config	cfg	delete.retention.ms	86400000
config	cfg	flush	always
config	cfg	max.batch.bytes	16777216
config	cfg	max.record.bytes	1024
config	cfg	retention.bytes	1073741824
config	cfg	retention.ms	172800000
config	cfg	segment.bytes	1048576
config	cfg	segment.ms	3600000"
}

@test "--json: list and describe, exact" {
	start_broker
	elog-topic create -p 2 j
	run -0 elog-topic list --json
	assert_output '[{"topic":"j","partition_count":2,"replication_factor":1,"records":0,"size_bytes":0,"retention_ms":-1,"retention_bytes":-1}]'
	run -0 elog-topic describe -j j
	assert_output '[{"topic":"j","partition_count":2,"replication_factor":1,"config":{"cleanup.policy":"delete","delete.retention.ms":"86400000","flush":"1s","max.batch.bytes":"16777216","max.record.bytes":"16777216","retention.bytes":"-1","retention.ms":"-1","segment.bytes":"134217728","segment.ms":"0"},"partitions":[{"partition":0,"leader":0,"leader_term":0,"replicas":[0],"isr":[0],"replica_status":[{"id":0,"in_sync":true,"end_offset":0,"lag":0}],"log_start_offset":0,"high_watermark":0,"size_bytes":0,"segments":1,"status":"ok","status_detail":""},{"partition":1,"leader":0,"leader_term":0,"replicas":[0],"isr":[0],"replica_status":[{"id":0,"in_sync":true,"end_offset":0,"lag":0}],"log_start_offset":0,"high_watermark":0,"size_bytes":0,"segments":1,"status":"ok","status_detail":""}]}]'
	# no topics: empty array, and no TSV lines
	elog-topic delete j
	run -0 elog-topic list --json
	assert_output '[]'
	run -0 --separate-stderr elog-topic list
	assert_output ''
	if command -v jq >/dev/null; then
		elog-topic create -p 3 k
		run -0 bash -c "elog-topic describe --json | jq -r '.[0].partitions | length'"
		assert_output 3
	fi
}

@test "describe counts what was produced" {
	need elog-produce
	start_broker
	elog-topic create hw
	seq 1 5 | elog-produce -a 1 hw
	run -0 bash -c "elog-topic describe hw | grep '^partition'"
	assert_output --regexp '^partition	hw	0	0	0	0	0	5	[1-9][0-9]*	1	ok$'
}

@test "an aligned table with a header when stdout is a terminal" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker
	elog-topic create -p 12 a-longer-name
	elog-topic create b
	run -0 script -qec "elog-topic list" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output")" "TOPIC          PARTITIONS  REPLICATION  RECORDS  SIZE  RETENTION
a-longer-name  12          1            0        0     forever
b              1           1            0        0     forever"
	run -0 script -qec "elog-topic describe b" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output")" "b: 1 partition, replication factor 1, 0 records, size 0
  cleanup.policy=delete delete.retention.ms=1d flush=1s max.batch.bytes=16M
  max.record.bytes=16M retention.bytes=-1 retention.ms=-1 segment.bytes=128M
  segment.ms=0
PARTITION  LEADER  REPLICAS  ISR  START  END  SIZE  SEGMENTS  STATUS
0          0       0         0    0      0    0     1         ok"
}

@test "on a terminal: list shows records, size and retention; describe fits 80 columns" {
	command -v script >/dev/null || skip "script(1) is not installed"
	need elog-produce
	start_broker
	elog-topic create -p 3 --retention 7d --retention-bytes 10G orders
	elog-topic create --retention-bytes 512M --segment-bytes 1M logs
	elog-topic create -c retention.ms=604800000 -c segment.ms=1h30m --flush 250ms kafkaish
	seq 1 3000 | elog-produce -q -a 1 orders
	run -0 elog-topic describe orders
	local bytes
	bytes=$(awk -F '\t' '$1 == "partition" { n += $9 } END { print n }' <<<"$output")
	[ "$bytes" -gt 10240 ]
	run -0 script -qec "elog-topic list" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output")" "TOPIC     PARTITIONS  REPLICATION  RECORDS  SIZE  RETENTION
kafkaish  1           1            0        0     7d
logs      1           1            0        0     512M
orders    3           1            3000     $(((bytes + 512) / 1024))K   7d or 10G"
	run -0 script -qec "elog-topic describe" /dev/null
	local line
	while IFS= read -r line; do
		line=${line%$'\r'}
		[ "${#line}" -le 80 ] || fail "wider than 80 columns: $line"
	done <<<"$output"
	assert_line --partial "kafkaish: 1 partition, replication factor 1, 0 records, size 0"
	assert_line --partial "  cleanup.policy=delete delete.retention.ms=1d flush=250ms max.batch.bytes=16M"
	assert_line --partial "  max.record.bytes=16M retention.bytes=-1 retention.ms=7d segment.bytes=128M"
	assert_line --partial "  segment.ms=90m"
	assert_line --partial "  max.record.bytes=16M retention.bytes=512M retention.ms=-1 segment.bytes=1M"
	assert_line --partial "orders: 3 partitions, replication factor 1, 3000 records, size $(((bytes + 512) / 1024))K"
	# TSV and JSON: plain numbers, as before
	run -0 bash -c "elog-topic list --json | jq -c '.[] | [.topic, .records, .size_bytes, .retention_ms, .retention_bytes]'"
	assert_output "[\"kafkaish\",0,0,604800000,-1]
[\"logs\",0,0,-1,536870912]
[\"orders\",3000,$bytes,604800000,10737418240]"
}

@test "durations are shown in the unit they were given in, and keep it across a restart" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker
	elog-topic create --retention 168h --flush 1000ms week
	elog-topic create --retention 7d --flush 1s days
	elog-topic create -c retention.ms=90000 plain
	run -0 script -qec "elog-topic describe week days plain" /dev/null
	assert_line --partial "  cleanup.policy=delete delete.retention.ms=1d flush=1000ms max.batch.bytes=16M"
	assert_line --partial "  max.record.bytes=16M retention.bytes=-1 retention.ms=168h segment.bytes=128M"
	assert_line --partial "  max.record.bytes=16M retention.bytes=-1 retention.ms=7d segment.bytes=128M"
	assert_line --partial "  max.record.bytes=16M retention.bytes=-1 retention.ms=90s segment.bytes=128M"
	# TSV: milliseconds, whatever the unit
	run -0 bash -c "elog-topic describe week days plain | awk -F '\t' '\$3 == \"retention.ms\" || \$3 == \"flush\" { print \$2, \$3, \$4 }'"
	assert_output "week flush 1s
week retention.ms 604800000
days flush 1s
days retention.ms 604800000
plain flush 1s
plain retention.ms 90000"
	# alter keeps the units of the keys it does not change
	elog-topic alter --segment-bytes 1M week
	elog_stop broker
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	start_broker
	run -0 script -qec "elog-topic describe week" /dev/null
	assert_line --partial "  cleanup.policy=delete delete.retention.ms=1d flush=1000ms max.batch.bytes=16M"
	assert_line --partial "  max.record.bytes=16M retention.bytes=-1 retention.ms=168h segment.bytes=1M"
}

@test "a 249-byte topic name: create, list (table, TSV, JSON), describe, completion, delete" {
	command -v script >/dev/null || skip "script(1) is not installed"
	start_broker
	local name
	name=$(printf 'n%.0s' {1..248})x
	[ "${#name}" -eq 249 ]
	run -0 --separate-stderr elog-topic create -p 2 "$name"
	assert_equal "$stderr" ""
	run -1 --separate-stderr elog-topic create "$name"
	assert_equal "$stderr" "elog-topic: create topic '$name': topic already exists"
	# a reason from the broker after the whole name
	run -1 --separate-stderr elog-topic alter -p 1 "$name"
	assert_regex "$stderr" "^elog-topic: alter topic '$name': partitions can only grow"
	run -0 elog-topic list
	assert_output "$name	2	1"
	run -0 script -qec "elog-topic list" /dev/null
	assert_line --index 1 --regexp "^$name  2 +1 +0 +0 +forever"$'\r$'
	run -0 elog-topic list --json
	assert_output --partial "{\"topic\":\"$name\",\"partition_count\":2,"
	run -0 elog-topic describe "$name"
	assert_line --index 0 "topic	$name	2	1"
	assert_line --index 11 "partition	$name	1	0	0	0	0	0	0	1	ok"
	run -0 script -qec "elog-topic describe" /dev/null
	assert_line --index 0 "$name: 2 partitions, replication factor 1, 0 records, size 0"$'\r'
	run -0 bash -c "source '$ELOG_REPO/completions/bash/elog-topic'
		COMP_LINE='elog-topic delete nn'; COMP_POINT=\${#COMP_LINE}; _elog_topic; printf '%s\n' \"\${COMPREPLY[@]}\""
	assert_output "$name"
	run -0 --separate-stderr elog-topic delete "$name"
	assert_equal "$stderr" ""
	run -1 --separate-stderr elog-topic delete "$name"
	assert_equal "$stderr" "elog-topic: delete topic '$name': no such topic"
	run -0 elog-topic list
	assert_output ""
	# nothing left over that a restart would trip on
	elog_stop broker
	[ "$ELOG_STOP_STATUS" -eq 0 ]
	start_broker
	run -0 elog-topic list
	assert_output ""
	run -0 ls -A "$ELOG_TMP/data"
	assert_output ".lock
__meta"
}

@test "alter: grow partitions, change config; shrinking is refused" {
	start_broker
	elog-topic create al
	run -0 --separate-stderr elog-topic alter -p 4 --retention 1h al
	assert_equal "$output$stderr" ""
	run -0 elog-topic list
	assert_output "al	4	1"
	run -0 bash -c "elog-topic describe al | grep '	retention.ms'"
	assert_output "config	al	retention.ms	3600000"
	run -1 --separate-stderr elog-topic alter -p 2 al
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^elog-topic: alter topic 'al': "
	run -1 --separate-stderr elog-topic alter --flush 1s nope
	assert_regex "$stderr" "^elog-topic: alter topic 'nope': "
}

@test "errors: exists, unknown; one line each, exit 1; --if-(not-)exists" {
	start_broker
	elog-topic create dup
	run -1 --separate-stderr elog-topic create dup
	assert_equal "$output" ""
	assert_equal "$stderr" "elog-topic: create topic 'dup': topic already exists"
	run -0 --separate-stderr elog-topic create --if-not-exists dup
	assert_equal "$stderr" ""
	run -1 --separate-stderr elog-topic delete gone
	assert_equal "$stderr" "elog-topic: delete topic 'gone': no such topic"
	run -0 --separate-stderr elog-topic delete --if-exists gone
	assert_equal "$stderr" ""
	run -1 --separate-stderr elog-topic alter --flush 1s gone
	assert_equal "$stderr" "elog-topic: alter topic 'gone': no such topic"
	# a value the broker refuses for the topic as a whole (not the command line)
	run -1 --separate-stderr elog-topic create --max-record-bytes 32M big
	assert_regex "$stderr" "^elog-topic: create topic 'big': .*max.record.bytes"
	run -0 elog-topic list
	assert_output "dup	1	1"
}

@test "bad config values are usage errors: exit 2, nothing sent" {
	start_broker
	local bad
	for bad in "--flush sometimes" "--flush 5" "--flush 0" "--retention 7" "--retention 7x" \
		"--retention 1.5d" "--retention-bytes 12x" "--retention-bytes -2" "--segment-bytes 12x" \
		"--segment-bytes 12" "--max-record-bytes 1KB" "-c no.such.key=1" "-c flush=5" \
		"-c retention.ms=soon" "-c segment.bytes=1MB" "-p x" "-r 0" "--timeout 5" "--timeout 0"; do
		# shellcheck disable=SC2086
		run -2 --separate-stderr elog-topic create $bad f
		assert_equal "${#stderr_lines[@]}" 8
		assert_regex "${stderr_lines[0]}" "^elog-topic: --"
	done
	run -2 --separate-stderr elog-topic create --retention 7 f
	assert_equal "${stderr_lines[0]}" 'elog-topic: --retention: invalid duration "7": missing or unknown unit (ms, s, m, h, d)'
	run -2 --separate-stderr elog-topic alter --flush 5 f
	assert_equal "${stderr_lines[0]}" 'elog-topic: --flush: expected always, never or an interval: invalid duration "5": missing or unknown unit (ms, s, m, h, d)'
	run -2 --separate-stderr elog-topic create -c no.such.key=1 f
	assert_equal "${stderr_lines[0]}" 'elog-topic: --config: unknown config key "no.such.key"'
	run -2 --separate-stderr elog-topic create -c retention.ms=7x f
	assert_regex "${stderr_lines[0]}" '^elog-topic: --config: retention.ms: invalid duration "7x"'
	run -2 --separate-stderr elog-topic create --segment-bytes 12 f
	assert_equal "${stderr_lines[0]}" 'elog-topic: --segment-bytes: 12 is outside [1024, 4294967295]'
	run -0 elog-topic list
	assert_output ""
	# what the key's name says is plain numbers in that unit; the options need units
	run -0 elog-topic create -c retention.ms=604800000 -c segment.bytes=1048576 --retention-bytes 1000 \
		--retention -1 k
	run -0 elog-topic create --retention 0 --flush never z
	run -0 bash -c "elog-topic describe k z | grep -e '	retention' -e segment.bytes -e flush"
	assert_output "config	k	flush	1s
config	k	retention.bytes	1000
config	k	retention.ms	-1
config	k	segment.bytes	1048576
config	z	flush	never
config	z	retention.bytes	-1
config	z	retention.ms	0
config	z	segment.bytes	134217728"
}

@test "several topics: a failure does not stop the others, exit 1" {
	start_broker
	elog-topic create b
	run -1 --separate-stderr elog-topic create a b c
	assert_equal "${#stderr_lines[@]}" 1
	run -0 bash -c "elog-topic list | cut -f1 | tr '\n' ' '"
	assert_output "a b c "
	run -1 --separate-stderr elog-topic describe a missing c
	assert_equal "$stderr" "elog-topic: describe topic 'missing': no such topic"
	assert_line --index 0 "topic	a	1	1"
	assert_line --index 11 "topic	c	1	1"
	run -1 --separate-stderr elog-topic delete a missing c
	assert_regex "$stderr" "^elog-topic: delete topic 'missing': "
	run -0 elog-topic list
	assert_output "b	1	1"
}

@test "no broker: one line, exit 1" {
	start_broker
	elog_stop broker
	run -1 --separate-stderr elog-topic list
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^elog-topic: cannot list topics: .*cannot connect to $ELOG_BROKERS: connection refused$"
	run -1 --separate-stderr elog-topic create t
	assert_regex "$stderr" "^elog-topic: create topic 't': .*connection refused$"
}
