# tests/cluster.bash — loaded (after helpers) by the tests/080-cluster*.bats
# files: starting a cluster of elog-serve processes on 127.0.0.1.
#
#   cluster_ports N          N free ports (elog-freeport) into PORTS[1..N]
#                            and the --cluster list into CLUSTER
#   cluster_start I [ARGS]   start broker I (name bI, dir $ELOG_TMP/dI) with
#                            --id I --cluster $CLUSTER on PORTS[I], waiting
#                            for its ready line; a start that lost its port
#                            to someone else (address already in use) is
#                            given new ports for the whole cluster only
#                            before any broker runs, else it fails
#   cluster_kill I           SIGKILL broker I, by its PID, and wait for it
#   cluster_stop I           SIGTERM broker I, by its PID, and wait for it
#   cluster_same_records G I...  brokers I... hold the same batches of group G

cluster_ports() {
	local n=$1 i=1 p
	PORTS=()
	CLUSTER=
	for p in $(elog-freeport "$n"); do
		PORTS[i]=$p
		CLUSTER+="${CLUSTER:+,}$i@127.0.0.1:$p"
		i=$((i + 1))
	done
	[ "${#PORTS[@]}" -eq "$n" ] || fail "elog-freeport gave ${#PORTS[@]} ports, not $n"
	CLUSTER_N=$n
}

cluster_start() {
	local i=$1 try
	shift
	for try in 1 2 3; do
		rm -f "$ELOG_TMP/b$i.err"
		elog_spawn "b$i" elog-serve -d "$ELOG_TMP/d$i" -l "127.0.0.1:${PORTS[i]}" \
			--id "$i" --cluster "$CLUSTER" "$@"
		elog_wait_until 20 grep -qE ' msg=ready |address already in use|cannot start' \
			"$ELOG_TMP/b$i.err" || fail "b$i is not ready: $(cat "$ELOG_TMP/b$i.err")"
		grep -q ' msg=ready ' "$ELOG_TMP/b$i.err" && return 0
		grep -q 'address already in use' "$ELOG_TMP/b$i.err" ||
			fail "b$i did not start: $(cat "$ELOG_TMP/b$i.err")"
		elog_wait_until 10 elog_exited "${ELOG_PROC[b$i]}" || fail "b$i did not exit"
		# Someone took the port: only a cluster nobody runs in yet can move.
		[ "${#ELOG_PROC[@]}" -le 1 ] || fail "b$i lost its port ${PORTS[i]} to another process"
		cluster_ports "$CLUSTER_N"
	done
	fail "b$i: no free port after 3 tries"
}

cluster_kill() {
	local pid=${ELOG_PROC[b$1]}
	kill -KILL "$pid"
	elog_wait_until 10 elog_exited "$pid" || fail "b$1 did not die"
}

cluster_stop() {
	elog_stop "b$1"
}

# cluster_leader GROUP — the broker that says (in its log) that it leads
# GROUP ("metadata", or "topic/partition") in the highest term, among the
# running brokers, into LEADER; 1 when none does.
cluster_leader() {
	local group=$1 i line term best_term=-1
	LEADER=
	for ((i = 1; i <= CLUSTER_N; i++)); do
		[ -n "${ELOG_PROC[b$i]:-}" ] || continue
		elog_exited "${ELOG_PROC[b$i]}" && continue
		line=$(grep " msg=\"raft role\" group=$group " "$ELOG_TMP/b$i.err" | tail -n 1)
		[[ $line == *" role=leader "* ]] || continue
		term=${line##* term=}
		term=${term%% *}
		if ((term > best_term)); then
			best_term=$term
			LEADER=$i
		fi
	done
	[ -n "$LEADER" ]
}

# cluster_wait_leader GROUP — wait (bounded) for a leader of GROUP, into LEADER
# and its address into LADDR.
cluster_wait_leader() {
	elog_wait_until 20 cluster_leader "$1" || fail "no leader of $1: $(cat "$ELOG_TMP"/b*.err)"
	LADDR=127.0.0.1:${PORTS[LEADER]}
}

# cluster_records I TOPIC/PARTITION — the batches broker I holds, as
# elog-dump shows them without the file name (equal bytes, equal lines).
cluster_records() {
	elog-dump -r "$ELOG_TMP/d$1/$2" | sed 's/ file=[^ ]*//'
}

# cluster_same_records GROUP I... — brokers I... hold the same batches of
# GROUP (TOPIC/PARTITION), and some. Through files: a dump of 300,000
# records is slow to hold and compare in a bash string.
cluster_same_records() {
	local group=$1 first=$2 i
	shift 2
	cluster_records "$first" "$group" >"$ELOG_TMP/records.$first" 2>/dev/null || return 1
	[ -s "$ELOG_TMP/records.$first" ] || return 1
	for i in "$@"; do
		cluster_records "$i" "$group" >"$ELOG_TMP/records.$i" 2>/dev/null || return 1
		cmp -s "$ELOG_TMP/records.$first" "$ELOG_TMP/records.$i" || return 1
	done
}

# cluster_netns_setup N — N namespaces (tests/netns.bash), one broker
# address each (10.77.<net>.I:9092) into ADDRS[1..N], the --cluster list
# into CLUSTER, and BROKERS, the list the clients bootstrap from.
cluster_netns_setup() {
	local n=$1 i
	elog_netns_setup "$n"
	ADDRS=()
	CLUSTER=
	BROKERS=
	for ((i = 1; i <= n; i++)); do
		ADDRS[i]=$(elog_netns_addr "$i"):9092
		CLUSTER+="${CLUSTER:+,}$i@${ADDRS[i]}"
		BROKERS+="${BROKERS:+,}${ADDRS[i]}"
	done
	CLUSTER_N=$n
}

# cluster_netns_start I [ARGS] — start broker I in its own namespace
# (recorded PID: elog-serve's own, ip netns exec execs it), waiting for
# its ready line.
cluster_netns_start() {
	local i=$1
	shift
	rm -f "$ELOG_TMP/b$i.err"
	elog_spawn "b$i" ip netns exec "$(elog_netns_name "$i")" elog-serve -d "$ELOG_TMP/d$i" \
		-l "${ADDRS[i]}" --id "$i" --cluster "$CLUSTER" "$@"
	elog_wait_until 20 grep -qE ' msg=ready |cannot start' "$ELOG_TMP/b$i.err" &&
		grep -q ' msg=ready ' "$ELOG_TMP/b$i.err" ||
		fail "b$i is not ready: $(cat "$ELOG_TMP/b$i.err")"
}

# cluster_feed_start TOPIC [PRODUCER ARGS] — a steady producer: the
# process "feed" writes increasing integers, 100 lines at a time every
# 10 ms, into a FIFO (and into feed.in, the producer's whole input) until
# the file feed.stop appears; the process "stream", elog-produce -a all
# bootstrapped from $BROKERS, reads the FIFO. cluster_feed_end stops the
# feed and waits (bounded) for the producer to send what is left and exit.
cluster_feed_start() {
	local topic=$1
	shift
	rm -f "$ELOG_TMP/feed.fifo" "$ELOG_TMP/feed.in" "$ELOG_TMP/feed.stop"
	mkfifo "$ELOG_TMP/feed.fifo"
	elog_spawn stream ${CLUSTER_FEED_PREFIX[@]+"${CLUSTER_FEED_PREFIX[@]}"} elog-produce -b "$BROKERS" -a all --timeout 60s "$@" \
		-i "$ELOG_TMP/feed.fifo" "$topic"
	elog_spawn feed bash -c 'exec >"$1"; i=0
		until [ -e "$2" ]; do
			seq $((i + 1)) $((i + 100)) | tee -a "$3" || exit 1
			i=$((i + 100))
			sleep 0.01
		done' feed "$ELOG_TMP/feed.fifo" "$ELOG_TMP/feed.stop" "$ELOG_TMP/feed.in"
}

# cluster_feed_end — stop the feed; the producer must exit 0 and report
# nothing on its stderr.
cluster_feed_end() {
	touch "$ELOG_TMP/feed.stop"
	elog_wait_until 10 elog_exited "$(elog_pid feed)" || fail "the feed did not stop"
	elog_stop feed
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "the feed failed ($ELOG_STOP_STATUS)"
	elog_wait_until 90 elog_exited "$(elog_pid stream)" || fail "the producer did not finish"
	elog_stop stream
	[ "$ELOG_STOP_STATUS" -eq 0 ] || fail "the producer failed ($ELOG_STOP_STATUS): $(cat "$ELOG_TMP/stream.err")"
	[ ! -s "$ELOG_TMP/stream.err" ] || fail "the producer reported: $(cat "$ELOG_TMP/stream.err")"
}

# cluster_fed_lines — how many lines the feed has written so far.
cluster_fed_lines() {
	wc -l <"$ELOG_TMP/feed.in" 2>/dev/null || echo 0
}
