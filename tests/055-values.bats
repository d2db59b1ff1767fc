#!/usr/bin/env bats
# Option values, one rule for every tool (elog(7) VALUES, docs/cli.md):
# every option of every tool that takes a value refuses a bad one with one
# line and the usage on stderr, exit 2, nothing done; a duration without its
# unit is refused everywhere; elog-serve's configuration file follows the
# same rule, and stops the start (exit 1) naming file and line. Runs that
# must fail are bounded with timeout(1): one that passed would serve forever.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-produce elog-consume elog-topic elog-serve elog-dump
	cd "$ELOG_TMP"
	# nothing listens here: a value that passed would fail later, with exit 1
	export ELOG_BROKERS=127.0.0.1:1
}

# "tool --option" -> a bad value. Every option a --help lists with a value,
# except files and directories (their errors are i/o failures), is here;
# the first test checks that none is missing.
declare -gA BAD=(
	["elog-produce --acks"]=2
	["elog-produce --brokers"]=host:port
	["elog-produce --header"]=novalue
	["elog-produce --key-field"]=
	["elog-produce --key-delimiter"]=
	["elog-produce --partition"]=-1
	["elog-produce --compression"]=gzip
	["elog-produce --batch-size"]=1KB
	["elog-produce --linger"]=5
	["elog-produce --max-record-bytes"]=12x
	["elog-produce --timeout"]=5
	["elog-produce --connect-timeout"]=0s
	["elog-consume --brokers"]=host:port
	["elog-consume --offset"]=x
	["elog-consume --count"]=-1
	["elog-consume --format"]=%Q
	["elog-consume --timeout"]=5
	["elog-consume --connect-timeout"]=11m
	["elog-consume --group"]=
	["elog-consume --reset"]=middle
	["elog-consume --commit-interval"]=5
	["elog-consume --session-timeout"]=100ms
	["elog-consume --instance-id"]=
	["elog-consume --assignor"]=best
	["elog-consume --exec"]=
	["elog-consume --coproc"]=
	["elog-consume --exec-timeout"]=5
	["elog-consume --retry-on"]=0
	["elog-consume --concurrency"]=0
	["elog-consume --retries"]=-1
	["elog-consume --backoff"]=5s
	["elog-consume --retry-topics"]=1m,x
	["elog-consume --dlq-topic"]=a/b
	["elog-consume --breaker"]=x
	["elog-topic --brokers"]=host:port
	["elog-topic --config"]=retention.ms
	["elog-topic --partitions"]=0
	["elog-topic --replication-factor"]=x
	["elog-topic --flush"]=5
	["elog-topic --max-record-bytes"]=1KB
	["elog-topic --retention"]=7
	["elog-topic --retention-bytes"]=1MB
	["elog-topic --segment-bytes"]=12
	["elog-topic --timeout"]=5
	["elog-topic --connect-timeout"]=5
	["elog-topic --before"]=x
	["elog-serve --listen"]=127.0.0.1:70000
	["elog-serve --dir"]=
	["elog-serve --id"]=-1
	["elog-serve --cluster"]=1@h:0
)

# What each tool needs besides the option to get as far as checking it.
declare -gA OPERANDS=(
	[elog-produce]=t [elog-consume]=t [elog-topic]="create t" [elog-serve]="" [elog-dump]=x
)

@test "every option that takes a value has a bad value here" {
	local tool opt
	for tool in elog-produce elog-consume elog-topic elog-serve elog-dump; do
		run -0 "$tool" --help
		for opt in $(grep -oE -- '--[a-z-]+=[A-Z:=_]+' <<<"$output" | grep -vE '=(FILE|DIR)$' |
			sed 's/=.*//'); do
			[ -n "${BAD["$tool $opt"]+set}" ] || fail "no bad value for $tool $opt"
		done
	done
}

@test "a bad value for any option: one line, the usage, exit 2, nothing on stdout" {
	local key tool opt
	[ "${#BAD[@]}" -gt 20 ]
	for key in "${!BAD[@]}"; do
		tool=${key%% *}
		opt=${key#* }
		# shellcheck disable=SC2086
		run -2 --separate-stderr timeout 20 "$tool" "$opt=${BAD[$key]}" ${OPERANDS[$tool]} </dev/null
		assert_equal "$output" ""
		[[ ${stderr_lines[0]} == "$tool: "* ]] || fail "$key: $stderr"
		[[ ${stderr_lines[1]} == "usage: $tool "* ]] || fail "$key: no usage line: $stderr"
	done
	[ ! -e elog-data ]
}

@test "a duration without its unit is refused by every tool, never taken as milliseconds" {
	local key tool opt
	for key in "elog-produce --linger" "elog-produce --timeout" "elog-consume --timeout" \
		"elog-topic --retention" "elog-topic --timeout" "elog-topic --flush" \
		"elog-produce --connect-timeout" "elog-consume --connect-timeout" \
		"elog-topic --connect-timeout" "elog-consume --exec-timeout"; do
		tool=${key%% *}
		opt=${key#* }
		# shellcheck disable=SC2086
		run -2 --separate-stderr timeout 20 "$tool" "$opt" 5 ${OPERANDS[$tool]} </dev/null
		assert_regex "${stderr_lines[0]}" "^$tool: $opt: .*invalid duration \"5\": missing or unknown unit \(ms, s, m, h, d\)$"
	done
	# -c with a key whose name has no unit: the same
	run -2 --separate-stderr elog-topic create -c flush=250 t
	assert_equal "${stderr_lines[0]}" 'elog-topic: --config: flush: expected always, never or an interval: invalid duration "250": missing or unknown unit (ms, s, m, h, d)'
}

@test "elog-serve's configuration file: the same rule; a bad value names file:line, exit 1" {
	printf 'idle_timeout = 5\n' >a.conf
	run -1 --separate-stderr timeout 20 elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 -c a.conf
	assert_equal "$stderr" 'elog-serve: a.conf:1: idle_timeout: invalid duration "5": missing or unknown unit (ms, s, m, h, d)'
	printf '# flush\ndefault.flush = 5\n' >b.conf
	run -1 --separate-stderr timeout 20 elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 -c b.conf
	assert_regex "$stderr" '^elog-serve: b.conf:2: default: flush: expected always, never or an interval: invalid duration "5"'
	printf 'max_frame_bytes = 1MB\n' >c.conf
	run -1 --separate-stderr timeout 20 elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 -c c.conf
	assert_regex "$stderr" '^elog-serve: c.conf:1: max_frame_bytes: invalid size "1MB"'
	printf 'max_connections = 10k\n' >d.conf
	run -1 --separate-stderr timeout 20 elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 -c d.conf
	assert_regex "$stderr" '^elog-serve: d.conf:1: max_connections: invalid number "10k"'
	[ ! -e data ]
}

@test "keys named with their unit take plain numbers in it; sizes may be bare bytes" {
	command -v script >/dev/null || skip "script(1) is not installed"
	printf 'default.retention.ms = 604800000\ndefault.segment.bytes = 1048576\nmax_frame_bytes = 67108864\nidle_timeout = 1h\n' >good.conf
	elog_spawn broker elog-serve -d "$ELOG_TMP/data" -l 127.0.0.1:0 -c good.conf
	elog_broker_wait broker
	export ELOG_BROKERS=$ELOG_ADDR
	run -0 elog-topic create -c segment.ms=3600000 --max-record-bytes 1000 t
	run -0 bash -c "elog-topic describe t | grep -e '	retention.ms' -e segment -e max.record"
	assert_output "config	t	max.record.bytes	1000
config	t	retention.ms	604800000
config	t	segment.bytes	1048576
config	t	segment.ms	3600000"
	run -0 script -qec "elog-topic describe t" /dev/null
	assert_line --partial "  max.record.bytes=1000 retention.bytes=-1 retention.ms=7d segment.bytes=1M"
	assert_line --partial "  segment.ms=1h"
}
