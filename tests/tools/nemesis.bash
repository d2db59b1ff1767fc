# tests/tools/nemesis.bash — faults for history runs (docs/testing.md).
#
# Sourced by tests (090-history.bats) and by tests/tools/nemesis (make
# torture). It owns the brokers it is given: it starts them, kills them
# with SIGKILL and starts them again, pauses them with SIGSTOP and resumes
# them with SIGCONT, and (when tests/netns.bash made namespaces) cuts them
# off the network. Every fault and every heal is logged, one line each, as
#
#   <epoch ms> <UTC time> <what> <broker>
#
# into $NEMESIS_DIR/nemesis.log, beside the history, so a checker anomaly
# can be lined up with the fault before it.
#
# State lives in files under $NEMESIS_DIR (the loop runs as its own
# process; a test's teardown reads the PIDs back):
#   broker.ID.cmd     the command (NUL-separated arguments), with {listen}
#                     and {dir} placeholders
#   broker.ID.listen  host:port (port 0 at first; the real one once known)
#   broker.ID.dir     its data directory
#   broker.ID.pid     its PID while it runs
#   broker.ID.state   up, paused or down
#   broker.ID.err     its stderr, every incarnation appended
#
# A cluster is the same brokers, each added with its own ID (and a
# command line that has --id and --cluster). A fault may name its target:
# FAULT@leader hits the broker that leads $NEMESIS_GROUP (a Raft group as
# the brokers' "raft role" lines name it: TOPIC/PARTITION, or metadata;
# default history/0), FAULT@follower one of the others, FAULT (or
# FAULT@any) any broker. The choice is logged first, with the group's
# leader at that moment ('-': none known; a broker alone has none), as
#
#   <epoch ms> <UTC time> target <fault> <role> <broker> <group> leader=<id>
#
# Calling order:
#   NEMESIS_DIR=dir; nemesis_init
#   nemesis_broker_add 1 DATADIR 127.0.0.1:0 elog-serve -d {dir} -l {listen}
#   nemesis_loop SECONDS INTERVAL_SECONDS kill,pause[,lose-tail,isolate,drop-out,drop-in]
#   (or, for a cluster, e.g. kill@leader,pause@follower,isolate@leader)
#   nemesis_heal                     (the loop heals when it ends, too)
#   nemesis_stop_all                 (teardown: every broker, by PID)

NEMESIS_READY_SECONDS=${NEMESIS_READY_SECONDS:-30}

nemesis_init() {
	[ -n "${NEMESIS_DIR:-}" ] || { echo "nemesis: NEMESIS_DIR is not set" >&2; return 2; }
	mkdir -p "$NEMESIS_DIR"
	: >>"$NEMESIS_DIR/nemesis.log"
}

nemesis_log() {
	echo "$(date -u +%s%3N) $(date -u +%FT%T.%3NZ) $*" >>"$NEMESIS_DIR/nemesis.log"
}

# The IDs of the brokers added, in order.
nemesis_brokers() {
	local f
	for f in "$NEMESIS_DIR"/broker.*.cmd; do
		[ -e "$f" ] || continue
		f=${f##*/broker.}
		echo "${f%.cmd}"
	done
}

nemesis_state() {
	cat "$NEMESIS_DIR/broker.$1.state" 2>/dev/null || echo down
}

nemesis_ready_count() {
	local n
	n=$(grep -c ' msg=ready ' "$NEMESIS_DIR/broker.$1.err" 2>/dev/null)
	echo "${n:-0}"
}

# nemesis_broker_add ID DATADIR LISTEN CMD [ARGS...] — register a broker
# and start it; {dir} and {listen} in CMD's arguments are replaced.
nemesis_broker_add() {
	local id=$1 dir=$2 listen=$3
	shift 3
	printf '%s\0' "$@" >"$NEMESIS_DIR/broker.$id.cmd"
	echo "$dir" >"$NEMESIS_DIR/broker.$id.dir"
	echo "$listen" >"$NEMESIS_DIR/broker.$id.listen"
	nemesis_start "$id"
}

# nemesis_addr ID — the broker's host:port (the real port once it started).
nemesis_addr() {
	cat "$NEMESIS_DIR/broker.$1.listen"
}

# nemesis_start ID — start the broker and wait for its ready line (a new
# one: the count of ready lines in its log grows); learns its port.
nemesis_start() {
	local id=$1 before cmd listen dir pid deadline addr i
	before=$(nemesis_ready_count "$id")
	listen=$(cat "$NEMESIS_DIR/broker.$id.listen")
	dir=$(cat "$NEMESIS_DIR/broker.$id.dir")
	mapfile -d '' cmd <"$NEMESIS_DIR/broker.$id.cmd"
	for i in "${!cmd[@]}"; do
		cmd[i]=${cmd[i]//\{listen\}/$listen}
		cmd[i]=${cmd[i]//\{dir\}/$dir}
	done
	"${cmd[@]}" >>"$NEMESIS_DIR/broker.$id.out" 2>>"$NEMESIS_DIR/broker.$id.err" 3>&- &
	pid=$!
	# Not a job of this shell: no "Killed" notice when the nemesis kills it
	# (it is still reaped; nemesis_wait_gone polls /proc).
	disown "$pid"
	echo "$pid" >"$NEMESIS_DIR/broker.$id.pid"
	echo up >"$NEMESIS_DIR/broker.$id.state"
	deadline=$((SECONDS + NEMESIS_READY_SECONDS))
	while [ "$(nemesis_ready_count "$id")" -le "$before" ]; do
		if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
			nemesis_log "start-failed $id pid=$pid"
			echo "nemesis: broker $id did not get ready: $(tail -n 3 "$NEMESIS_DIR/broker.$id.err")" >&2
			return 1
		fi
		sleep 0.05
	done
	addr=$(sed -n 's/.* msg=ready listen=\([^ ]*\) .*/\1/p' "$NEMESIS_DIR/broker.$id.err" | tail -n 1)
	[ -z "$addr" ] || echo "$addr" >"$NEMESIS_DIR/broker.$id.listen"
	nemesis_log "start $id pid=$pid listen=$addr"
}

nemesis_pid() {
	cat "$NEMESIS_DIR/broker.$1.pid" 2>/dev/null
}

# Wait (bounded) until PID is gone; reap it when it is our child.
nemesis_wait_gone() {
	local pid=$1 deadline=$((SECONDS + 10)) stat
	while { read -r stat <"/proc/$pid/stat"; } 2>/dev/null; do
		stat=${stat##*) }
		[ "${stat%% *}" != Z ] || break
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.02
	done
	wait "$pid" 2>/dev/null || true
}

nemesis_kill() {
	local id=$1 pid
	pid=$(nemesis_pid "$id")
	[ "$(nemesis_state "$id")" != down ] && [ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	nemesis_wait_gone "$pid"
	echo down >"$NEMESIS_DIR/broker.$id.state"
	nemesis_log "kill $id pid=$pid"
}

nemesis_pause() {
	local id=$1
	[ "$(nemesis_state "$id")" = up ] || return 0
	kill -STOP "$(nemesis_pid "$id")"
	echo paused >"$NEMESIS_DIR/broker.$id.state"
	nemesis_log "pause $id"
}

nemesis_resume() {
	local id=$1
	[ "$(nemesis_state "$id")" = paused ] || return 0
	kill -CONT "$(nemesis_pid "$id")"
	echo up >"$NEMESIS_DIR/broker.$id.state"
	nemesis_log "resume $id"
}

# nemesis_lose_tail ID — simulate a power loss that took the broker's
# unsynced writes: SIGKILL, then cut the newest segment of every partition
# (not the metadata log) to half its size, then start it again. On a topic
# with flush=always this loses acknowledged records, which is what a
# history check must then report: it is the checker's own test.
nemesis_lose_tail() {
	local id=$1 dir seg size
	nemesis_kill "$id"
	dir=$(cat "$NEMESIS_DIR/broker.$id.dir")
	for seg in "$dir"/*/*/; do
		case $seg in "$dir"/__meta/*) continue ;; esac
		seg=$(ls "$seg"*.log 2>/dev/null | tail -n 1)
		[ -n "$seg" ] || continue
		size=$(stat -c %s "$seg")
		truncate -s $((size / 2)) "$seg"
		nemesis_log "lose-tail $id $seg $size->$((size / 2))"
	done
	nemesis_start "$id"
}

# Network faults: only with namespaces (tests/netns.bash) whose node
# numbers are the broker IDs.
nemesis_net() {
	local fault=$1 id=$2
	[ -n "${ELOG_NETNS_PREFIX:-}" ] || return 0
	case $fault in
	isolate) elog_netns_isolate "$id" ;;
	drop-out) elog_netns_drop_out "$id" ;;
	drop-in) elog_netns_drop_in "$id" ;;
	esac
	echo "$id" >>"$NEMESIS_DIR/net.faulted"
	nemesis_log "$fault $id"
}

# nemesis_heal — every broker running and resumed, the network whole.
nemesis_heal() {
	local id
	for id in $(nemesis_brokers); do
		case $(nemesis_state "$id") in
		paused) nemesis_resume "$id" ;;
		down) nemesis_start "$id" || return 1 ;;
		esac
	done
	if [ -n "${ELOG_NETNS_PREFIX:-}" ] && [ -s "$NEMESIS_DIR/net.faulted" ]; then
		elog_netns_heal
		: >"$NEMESIS_DIR/net.faulted"
		nemesis_log "heal-net all"
	fi
	nemesis_log "healed"
}

# nemesis_leader GROUP — the broker that leads GROUP now, as the brokers'
# logs tell: of the running brokers whose last "raft role" line for GROUP
# says role=leader, the one with the highest term. Fails when none does.
nemesis_leader() {
	local group=$1 id line term best= best_term=-1
	for id in $(nemesis_brokers); do
		[ "$(nemesis_state "$id")" = up ] || continue
		line=$(grep " msg=\"raft role\" group=$group " "$NEMESIS_DIR/broker.$id.err" 2>/dev/null |
			tail -n 1)
		[[ $line == *" role=leader "* ]] || continue
		term=${line##* term=}
		term=${term%% *}
		if ((term > best_term)); then
			best_term=$term
			best=$id
		fi
	done
	[ -n "$best" ] && echo "$best"
}

# nemesis_target ROLE — a broker for a fault: ROLE leader (of
# $NEMESIS_GROUP; waits up to 10 s for one to be known), follower (a
# running broker that does not lead it), any (at random).
nemesis_target() {
	local role=$1 group=${NEMESIS_GROUP:-history/0} ids leader= id others=() deadline
	mapfile -t ids < <(nemesis_brokers)
	case $role in
	any) echo "${ids[RANDOM % ${#ids[@]}]}"; return 0 ;;
	leader | follower) ;;
	*) echo "nemesis: unknown target \"$role\"" >&2; return 2 ;;
	esac
	deadline=$((SECONDS + 10))
	until leader=$(nemesis_leader "$group"); do
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.1
	done
	if [ "$role" = leader ]; then
		[ -n "$leader" ] || { nemesis_log "target none: no leader of $group"; return 1; }
		echo "$leader"
		return 0
	fi
	for id in "${ids[@]}"; do
		[ "$id" != "$leader" ] && [ "$(nemesis_state "$id")" = up ] && others+=("$id")
	done
	[ "${#others[@]}" -gt 0 ] || return 1
	echo "${others[RANDOM % ${#others[@]}]}"
}

# nemesis_summary — per fault kind: how many, and how many hit the leader
# of $NEMESIS_GROUP, from the target lines of nemesis.log.
nemesis_summary() {
	awk '$3 == "target" { n[$4]++; if ($8 == "leader=" $6) l[$4]++ }
		END { for (f in n) printf "%s %d (the leader %d)\n", f, n[f], l[f] }' \
		"$NEMESIS_DIR/nemesis.log" | sort
}

# nemesis_failovers GROUP_PREFIX — how many leaders were elected in the
# groups whose names start with GROUP_PREFIX (e.g. "history/"), less each
# group's first: the failovers the run caused, from the brokers' logs.
nemesis_failovers() {
	local n groups
	n=$(cat "$NEMESIS_DIR"/broker.*.err 2>/dev/null |
		sed -n "s|.* msg=\"raft role\" group=\($1[^ ]*\) role=leader term=\([0-9]*\) .*|\1 \2|p" |
		sort -u | wc -l)
	groups=$(cat "$NEMESIS_DIR"/broker.*.err 2>/dev/null |
		sed -n "s|.* msg=\"raft role\" group=\($1[^ ]*\) role=leader .*|\1|p" | sort -u | wc -l)
	echo $((n - groups))
}

# nemesis_fault FAULT ID — one fault now; the next heal (or the loop's next
# step) undoes it.
nemesis_fault() {
	case $1 in
	kill) nemesis_kill "$2" ;;
	pause) nemesis_pause "$2" ;;
	lose-tail) nemesis_lose_tail "$2" ;;
	isolate | drop-out | drop-in) nemesis_net "$1" "$2" ;;
	*) echo "nemesis: unknown fault \"$1\"" >&2; return 2 ;;
	esac
}

# nemesis_loop SECONDS INTERVAL FAULTS — until SECONDS pass: let the
# cluster run healthy for INTERVAL seconds, pick a fault from the
# comma-separated list and a broker at random, hold it for INTERVAL seconds
# (give or take half), heal, repeat. NEMESIS_PICK=cycle takes the faults
# and brokers in turn instead (tests that need each fault at least once);
# NEMESIS_ROUNDS=N ends the loop after N faults, if SECONDS have not passed
# first. Ends healed. Returns non-zero when a broker would not
# start again (a real failure: the history run will say what it lost).
nemesis_loop() {
	local seconds=$1 interval=$2 faults ids fault id hold end n=0 role
	IFS=, read -r -a faults <<<"$3"
	mapfile -t ids < <(nemesis_brokers)
	end=$((SECONDS + seconds))
	trap 'nemesis_heal; exit 0' TERM INT
	while [ "$SECONDS" -lt "$end" ] && [ "$n" -lt "${NEMESIS_ROUNDS:-1000000000}" ]; do
		sleep "$interval" &
		wait $!
		[ "$SECONDS" -lt "$end" ] || break
		if [ "${NEMESIS_PICK:-random}" = cycle ]; then
			fault=${faults[n % ${#faults[@]}]}
			id=${ids[n % ${#ids[@]}]}
		else
			fault=${faults[RANDOM % ${#faults[@]}]}
			id=${ids[RANDOM % ${#ids[@]}]}
		fi
		n=$((n + 1))
		role=any
		if [[ $fault == *@* ]]; then
			role=${fault#*@}
			fault=${fault%@*}
		fi
		if [ "$role" != any ]; then
			id=$(nemesis_target "$role") || continue
		fi
		nemesis_log "target $fault $role $id ${NEMESIS_GROUP:-history/0}" \
			"leader=$(nemesis_leader "${NEMESIS_GROUP:-history/0}" || echo -)"
		nemesis_fault "$fault" "$id" || { nemesis_heal; return 1; }
		hold=$(( (interval * 500 + RANDOM % (interval * 1000 + 1)) ))
		sleep "$((hold / 1000)).$(printf '%03d' $((hold % 1000)))" &
		wait $!
		nemesis_heal || return 1
	done
	trap - TERM INT
	nemesis_heal
}

# nemesis_stop_all — stop every broker (resume first: a paused process
# cannot act on SIGTERM), TERM then KILL after 10 s. For teardown.
nemesis_stop_all() {
	local id pid deadline
	[ -n "${NEMESIS_DIR:-}" ] && [ -d "$NEMESIS_DIR" ] || return 0
	for id in $(nemesis_brokers); do
		pid=$(nemesis_pid "$id")
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
		if ! nemesis_wait_gone "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			nemesis_wait_gone "$pid" || true
		fi
		echo down >"$NEMESIS_DIR/broker.$id.state"
	done
}
