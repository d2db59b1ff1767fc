#!/usr/bin/env bash
# tests/sim/mutate.sh — break the Raft core on purpose and check that the
# simulator notices. Each tests/sim/mutations/NN-name.diff (its first line,
# a comment, says what it breaks) is applied to a copy of libcore/raft*,
# a raft_sim is built from that copy, and seeds 1..SEEDS run on 3 and then
# 5 nodes until one fails. One line per mutation: "caught" with the first
# failure, or "SURVIVED". Exit 1 if any mutation survived or did not apply.
#
#   tests/sim/mutate.sh [mutation.diff ...]      (SEEDS=2000 by default)
#
# Needs patch(1). `make sim-mutations` runs it; it is not part of `check`.
set -u
cd "$(dirname "$0")/../.."
SEEDS=${SEEDS:-2000}
CC=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- tests/sim/mutations/*.diff
bad=0
for m in "$@"; do
	name=$(basename "$m" .diff)
	rm -rf "$tmp/src" && mkdir -p "$tmp/src" && cp libcore/raft*.c libcore/raft*.h "$tmp/src/"
	if ! patch -s -p2 -d "$tmp/src" < "$m" >/dev/null 2>&1; then
		echo "$name: does not apply"
		bad=1
		continue
	fi
	if ! $CC -std=c11 -D_GNU_SOURCE -O2 -w -I"$tmp/src" -Ilibcore -o "$tmp/raft_sim" \
		tests/sim/*.c "$tmp"/src/raft*.c libcore/err.c; then
		echo "$name: does not build"
		bad=1
		continue
	fi
	verdict="SURVIVED $SEEDS seeds on 3 and 5 nodes"
	for nodes in 3 5; do
		out=$("$tmp/raft_sim" --seeds "$SEEDS" --nodes "$nodes" 2>&1) && continue
		why=$(printf '%s\n' "$out" | grep -m1 -E 'raft_sim: seed|Assertion' | sed 's/^raft_sim: //')
		how=$(printf '%s\n' "$out" | grep -m1 -o 'seed [0-9]* --nodes [0-9]*')
		verdict="caught ($how): $why"
		break
	done
	echo "$name: $verdict"
	case $verdict in SURVIVED*) bad=1 ;; esac
done
exit $bad
