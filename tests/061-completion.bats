#!/usr/bin/env bats
# Shell completion against a real broker: topic names for every tool that
# takes a topic, from the brokers given with -b/--brokers on the line (or
# $ELOG_BROKERS); option values written as --opt=value; bash driven by
# sourcing the file and calling its function as bash would, zsh driven
# through a pseudo-terminal (zsh/zpty) with its completion system.
# The option lists themselves are checked in each tool's own bats file.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	elog_setup
	elog_need elog-serve elog-topic
	cd "$ELOG_TMP"
}

# start_broker NAME — elog-serve on a free port; its address in $A.
start_broker() {
	elog_spawn "$1" elog-serve -d "$ELOG_TMP/$1" -l 127.0.0.1:0
	elog_broker_wait "$1"
	A=$ELOG_ADDR
}

# complete_bash TOOL LINE [WORDBREAKS] — what bash offers for LINE (the
# cursor at its end), one answer per line. COMP_WORDS is split as bash
# splits it, at blanks and at the characters of COMP_WORDBREAKS ('=' and
# ':' by default), though the functions only read COMP_LINE.
complete_bash() {
	local tool=$1 line=$2 breaks=${3-$' \t\n"\'@><=;|&(:'}
	bash -c '
		source "$1/completions/bash/$2"
		COMP_WORDBREAKS=$4
		COMP_LINE=$3
		COMP_POINT=${#COMP_LINE}
		COMP_WORDS=()
		word=
		for ((i = 0; i < ${#COMP_LINE}; i++)); do
			c=${COMP_LINE:i:1}
			if [[ $c == [[:blank:]] ]]; then
				[[ -n $word ]] && COMP_WORDS+=("$word")
				word=
			elif [[ $COMP_WORDBREAKS == *"$c"* ]]; then
				[[ -n $word ]] && COMP_WORDS+=("$word")
				COMP_WORDS+=("$c")
				word=
			else
				word+=$c
			fi
		done
		COMP_WORDS+=("$word")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		"_${2//-/_}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete_bash "$ELOG_REPO" "$tool" "$line" "$breaks"
}

@test "bash: the shared helpers are the same in every file" {
	local first f
	for f in elog-consume elog-dlq elog-produce elog-serve elog-topic; do
		sed -n '/^# ---- shared by/,/^# ---- end of the shared part/p' \
			"$ELOG_REPO/completions/bash/$f" >"$f.shared"
		[ -s "$f.shared" ] || fail "$f has no shared part"
		bash -n "$ELOG_REPO/completions/bash/$f"
	done
	for f in elog-dlq elog-produce elog-serve elog-topic; do
		cmp elog-consume.shared "$f.shared" || fail "$f's shared part differs from elog-consume's"
	done
}

@test "bash: topic names for elog-consume, elog-produce and elog-topic, from -b on the line" {
	start_broker b1
	local b1=$A
	elog-topic -b "$b1" create orders
	elog-topic -b "$b1" create other
	start_broker b2
	elog-topic -b "$A" create payments
	# $ELOG_BROKERS names b2; the line names b1, and wins
	export ELOG_BROKERS=$A
	run -0 complete_bash elog-consume "elog-consume -b $b1 o"
	assert_output "orders
other"
	run -0 complete_bash elog-consume "elog-consume -e --brokers=$b1 or"
	assert_output "orders"
	run -0 complete_bash elog-consume "elog-consume --brokers $b1 -o earliest orders other"
	assert_output "other"
	run -0 complete_bash elog-produce "elog-produce -b $b1 -a all or"
	assert_output "orders"
	run -0 complete_bash elog-topic "elog-topic -b $b1 delete o"
	assert_output "orders
other"
	# -b host:port, cut at ':' by bash, is still one value: the command is found
	run -0 complete_bash elog-topic "elog-topic -b $b1 d"
	assert_output "delete
describe"
	# without -b: $ELOG_BROKERS
	run -0 complete_bash elog-consume "elog-consume "
	assert_output "payments"
	run -0 complete_bash elog-topic "elog-topic describe p"
	assert_output "payments"
	# no broker answers: nothing, quickly
	export ELOG_BROKERS=127.0.0.1:1
	run -0 complete_bash elog-consume "elog-consume o"
	assert_output ""
	# topic:partition is left alone
	run -0 complete_bash elog-consume "elog-consume -b $b1 orders:"
	assert_output ""
}

@test "bash: option values given as --opt=value" {
	mkdir dir
	: >dir/file.jsonl
	# with '=' and ':' in COMP_WORDBREAKS (bash's default) readline replaces
	# what follows the last of them: the answers are that part
	run -0 complete_bash elog-topic "elog-topic create --flush=al"
	assert_output "always"
	run -0 complete_bash elog-topic "elog-topic create --flush="
	assert_output "always
never
1s"
	run -0 complete_bash elog-topic "elog-topic create --config=retention."
	assert_output "retention.bytes=
retention.ms="
	run -0 complete_bash elog-produce "elog-produce --acks=a"
	assert_output "all"
	run -0 complete_bash elog-produce "elog-produce --compression=l t"
	assert_output ""
	run -0 complete_bash elog-produce "elog-produce --compression=l"
	assert_output "lz4"
	run -0 complete_bash elog-produce "elog-produce --input=dir/f"
	assert_output "dir/file.jsonl"
	run -0 complete_bash elog-consume "elog-consume --offset=ea"
	assert_output "earliest"
	run -0 complete_bash elog-serve "elog-serve --dir=di"
	assert_output "dir"
	run -0 complete_bash elog-serve "elog-serve --listen=127.0.0.1:7"
	assert_output "7411"
	# the option names themselves
	run -0 complete_bash elog-topic "elog-topic --retention-"
	assert_output "--retention-bytes"
	# without '=' and ':' in COMP_WORDBREAKS the whole word is replaced
	run -0 complete_bash elog-topic "elog-topic create --flush=al" $' \t\n'
	assert_output "--flush=always"
	run -0 complete_bash elog-serve "elog-serve --listen=127.0.0.1:7" $' \t\n'
	assert_output "--listen=127.0.0.1:7411"
	# the value as a separate word, as before
	run -0 complete_bash elog-topic "elog-topic create --flush n"
	assert_output "never"
}

@test "zsh: the files parse" {
	command -v zsh >/dev/null || skip "zsh is not installed (.ci/deps installs it)"
	local f
	for f in "$ELOG_REPO"/completions/zsh/_elog-*; do
		zsh -n "$f" || fail "$f does not parse"
	done
}

# complete_zsh LINE EXPECTED — type LINE and a tab into an interactive zsh
# with elog's completions, until the screen shows EXPECTED (or 20 s pass).
complete_zsh() {
	cat >drive.zsh <<'EOF'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; print RE''ADY"
out= deadline=$((SECONDS + 20))
until [[ $out == *READY* ]] || ((SECONDS > deadline)); do
	zpty -r -t z chunk && out+=$chunk || sleep 0.05
done
zpty -w -n z "$2"$'\t'
out=
until [[ $out == *"$3"* ]] || ((SECONDS > deadline)); do
	zpty -r -t z chunk && out+=$chunk || sleep 0.05
done
zpty -d z
[[ $out == *"$3"* ]] || { print -r -- "no \"$3\" in: ${(V)out}" >&2; exit 1; }
EOF
	zsh -f drive.zsh "$ELOG_REPO/completions/zsh" "$1" "$2"
}

@test "zsh: topic names from -b and --brokers= on the line" {
	command -v zsh >/dev/null || skip "zsh is not installed (.ci/deps installs it)"
	start_broker b1
	elog-topic -b "$A" create orders
	export ELOG_BROKERS=127.0.0.1:1
	run -0 complete_zsh "elog-consume -b $A or" "elog-consume -b $A orders"
	run -0 complete_zsh "elog-produce --brokers=$A or" "elog-produce --brokers=$A orders"
	run -0 complete_zsh "elog-topic -b $A delete or" "elog-topic -b $A delete orders"
	export ELOG_BROKERS=$A
	run -0 complete_zsh "elog-consume -e or" "elog-consume -e orders"
}
