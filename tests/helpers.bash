# tests/helpers.bash — loaded by every tests/NNN-<tool>-<what>.bats with
#
#     load helpers
#
# What it gives a test:
#   - bats-support and bats-assert (run -N, assert_output, assert_line, ...);
#   - the binaries under test first in PATH: $ELOG_BIN (tests/run exports
#     <repo>/<BUILD>/bin; default build/bin) and the test tools beside it
#     ($ELOG_BIN/../tools, e.g. mklog);
#   - $ELOG_TMP, a fresh directory per test, removed in teardown (kept, and
#     its path printed, when ELOG_KEEP is set);
#   - background processes: elog_spawn starts one and records its PID,
#     teardown stops every recorded process (TERM, then KILL after a bounded
#     wait), so a failing test never leaves a broker running;
#   - elog_wait_until, which polls a condition with a deadline (never a bare
#     sleep to synchronise).
#
# A .bats file that needs its own setup/teardown defines them and calls
# elog_setup / elog_teardown from them.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ELOG_REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
ELOG_BIN=${ELOG_BIN:-$ELOG_REPO/build/bin}
ELOG_TOOLS=${ELOG_TOOLS:-$(dirname "$ELOG_BIN")/tools}
PATH=$ELOG_BIN:$ELOG_TOOLS:$PATH
export ELOG_BIN ELOG_TOOLS PATH

# Under SANITIZE=1 a sanitizer report must not pass for an ordinary exit 1
# (ASan's default exit status): make it 86 (ASan) or 87 (UBSan).
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:exitcode=87:print_stacktrace=1}

# Seconds a spawned process gets to exit after SIGTERM before SIGKILL.
ELOG_STOP_TIMEOUT=${ELOG_STOP_TIMEOUT:-10}

elog_setup() {
	ELOG_TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/elog-test.XXXXXX")
	ELOG_PIDS=()
	declare -gA ELOG_PROC=()
	export ELOG_TMP
}

elog_teardown() {
	elog_stop_all
	elog_netns_teardown
	if [ -n "${ELOG_KEEP:-}" ]; then
		echo "# kept $ELOG_TMP" >&3
	elif [ -n "${ELOG_TMP:-}" ]; then
		rm -rf "$ELOG_TMP"
	fi
}

setup() {
	elog_setup
}

teardown() {
	elog_teardown
}

# elog_need PROGRAM... — fail (not skip) with a clear message when a binary
# the test needs was not built.
elog_need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || fail "$p not found in PATH: build it first (make all tools)"
	done
}

# elog_spawn NAME CMD [ARGS...] — start CMD in the background with stdout and
# stderr in $ELOG_TMP/NAME.out and NAME.err; its PID is recorded (also as
# ${ELOG_PROC[NAME]}) and stopped in teardown. fd 3 is closed for it, or
# bats would wait for it to exit.
elog_spawn() {
	local name=$1
	shift
	"$@" >"$ELOG_TMP/$name.out" 2>"$ELOG_TMP/$name.err" 3>&- &
	ELOG_PIDS+=("$!")
	ELOG_PROC[$name]=$!
}

# elog_le BYTES VALUE — VALUE as BYTES little-endian bytes, in hex.
elog_le() {
	local i out=
	for ((i = 0; i < $1; i++)); do
		out+=$(printf '%02x' $((($2 >> (8 * i)) & 255)))
	done
	printf '%s' "$out"
}

# elog_purge_frame TIMEOUT_MS DRY_RUN TOPIC ID:OFFSET... — a DELETE_RECORDS
# request (docs/protocol.md), in hex, for elog-probe raw.
elog_purge_frame() {
	local timeout=$1 dry=$2 topic=$3 body part
	shift 3
	body=$(elog_le 4 "$timeout")$(elog_le 1 "$dry")$(elog_le 4 1)$(elog_le 2 ${#topic})
	body+=$(printf '%s' "$topic" | od -An -tx1 | tr -d ' \n')$(elog_le 4 $#)
	for part in "$@"; do
		body+=$(elog_le 4 "${part%%:*}")$(elog_le 8 "${part#*:}")
	done
	printf '%s' "$(elog_le 4 $((8 + ${#body} / 2)))$(elog_le 2 10)$(elog_le 2 1)$(elog_le 4 1)$body"
}

# elog_pid NAME — the PID of a spawned process.
elog_pid() {
	echo "${ELOG_PROC[$1]}"
}

# elog_stop NAME|PID [SIGNAL] — send SIGNAL (default TERM), wait up to
# ELOG_STOP_TIMEOUT seconds for the process to exit, then KILL it. Leaves
# its exit status as wait reports it (128+N after signal N) in
# ELOG_STOP_STATUS and returns 0, so a test can check the status itself:
#     elog_stop broker && [ "$ELOG_STOP_STATUS" -eq 0 ]
# Call it from the test's own shell, not through `run` (a subshell cannot
# wait for the test's children).
elog_stop() {
	local pid=${ELOG_PROC[$1]:-$1} sig=${2:-TERM}
	if ! elog_exited "$pid"; then
		# It may exit (and bash may reap it) between the check and the kill:
		# a process already gone is stopped, not an error.
		kill -"$sig" "$pid" 2>/dev/null || true
		if ! elog_wait_until "$ELOG_STOP_TIMEOUT" elog_exited "$pid"; then
			echo "# pid $pid ignored SIG$sig for ${ELOG_STOP_TIMEOUT}s: killing it" >&3
			kill -KILL "$pid" 2>/dev/null || true
			elog_wait_until 5 elog_exited "$pid" || true
		fi
	fi
	ELOG_STOP_STATUS=0
	wait "$pid" 2>/dev/null || ELOG_STOP_STATUS=$?
	return 0
}

# elog_exited PID — true once PID is gone or a zombie (exited, not reaped:
# kill -0 still succeeds on those).
elog_exited() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}

# Stop every process started with elog_spawn that is still running.
elog_stop_all() {
	local pid
	# SIGTERM to all first, then wait for each: a cluster's brokers stop
	# together instead of each waiting in turn for its handovers.
	for pid in "${ELOG_PIDS[@]}"; do
		elog_exited "$pid" || kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${ELOG_PIDS[@]}"; do
		elog_stop "$pid"
	done
	ELOG_PIDS=()
}

# elog_wait_until SECONDS CMD [ARGS...] — run CMD every 50 ms until it
# succeeds (return 0) or SECONDS pass (return 1).
elog_wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$((SECONDS + timeout))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# elog_flip_byte FILE POSITION — xor the byte at POSITION with 0xff, in place.
elog_flip_byte() {
	local file=$1 pos=$2 byte
	byte=$(od -An -tu1 -j "$pos" -N1 "$file" | tr -d ' ')
	[ -n "$byte" ] || fail "elog_flip_byte: $file has no byte $pos"
	printf "\\$(printf '%03o' $((byte ^ 255)))" |
		dd of="$file" bs=1 seek="$pos" count=1 conv=notrunc status=none
}

# elog_file_size FILE — size in bytes.
elog_file_size() {
	stat -c %s "$1"
}

# elog_broker_wait NAME [SECONDS] — wait (default 20 s) for the elog-serve
# spawned as NAME to print its ready line, then set ELOG_ADDR to the
# 127.0.0.1:PORT it listens on (port 0 picks a free one; the line tells).
elog_broker_wait() {
	local name=$1 secs=${2:-20}
	# Until the whole line is there: a line may reach the file in pieces.
	elog_wait_until "$secs" elog_ready_addr "$name" ||
		fail "$name is not ready: $(cat "$ELOG_TMP/$name.err")"
}

# elog_ready_addr NAME — NAME's ready line is complete: its address into ELOG_ADDR.
elog_ready_addr() {
	ELOG_ADDR=$(sed -n 's/.* msg=ready listen=\([^ ]*\) .*/\1/p' "$ELOG_TMP/$1.err" | tail -n 1)
	[ -n "$ELOG_ADDR" ]
}

# Network namespaces per test (elog_netns_setup, partitions, heal, teardown).
. "$BATS_TEST_DIRNAME/netns.bash"
