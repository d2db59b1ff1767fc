# tests/netns.bash — network namespaces for tests (sourced by helpers.bash).
#
# A test that calls elog_netns_setup NODES gets its own small network:
#
#   namespace  <prefix>-br   a bridge br0 (no address), one port per node
#   namespace  <prefix>-1 .. <prefix>-NODES   node i: eth0 = 10.77.<net>.i/24
#   namespace  <prefix>-c    the clients: eth0 = 10.77.<net>.100/24
#
# joined by veth pairs created inside the namespaces (nothing is added to
# the machine's own namespace), so brokers listen on fixed addresses and
# ports (10.77.<net>.i:9092) and tests running at the same time never
# collide: <prefix> holds the bats process id and the test number. <net>
# is the test number modulo 250 (addresses only need to be unique inside
# one test's bridge).
#
# Faults, all silent drops (no error reaches the sender, as on a real
# network; TCP just retransmits):
#   elog_netns_isolate NODE     symmetric: the node's bridge port goes down
#   elog_netns_drop_out NODE    one-way: frames the node sends go nowhere
#                               (its neighbour entries for every other
#                               address point at an unused MAC address)
#   elog_netns_drop_in NODE     one-way: frames sent to the node go nowhere
#                               (everyone else's entry for it does)
#   elog_netns_heal [NODE]      undo every fault (of NODE, or of all)
#   elog_netns_delay NODE MS / elog_netns_loss NODE PERCENT
#                               tc netem on the node's eth0; returns 1 with
#                               the reason in ELOG_NETNS_WHY when the kernel
#                               has no netem (test with elog_netns_have_netem)
# NODE is a node number or "c" for the client namespace.
#
# Nothing here needs iptables or nft: only ip(8) and, for delay and loss,
# tc(8) with sch_netem. elog_netns_teardown (called from elog_teardown)
# deletes every namespace the test made, by name, even after a failure;
# processes inside are stopped before (elog_stop_all runs first).
# Needs root: elog_netns_require skips the test with the reason otherwise.

ELOG_NETNS_PREFIX=${ELOG_NETNS_PREFIX:-}
ELOG_NETNS_NET=${ELOG_NETNS_NET:-}
ELOG_NETNS_NODES=${ELOG_NETNS_NODES:-0}
ELOG_NETNS_BOGUS_MAC=02:00:5e:77:77:77

# elog_netns_require — skip the test (with why) unless namespaces can be made.
elog_netns_require() {
	[ "$(id -u)" -eq 0 ] || skip "network namespaces need root (CI runs as root)"
	command -v ip >/dev/null || skip "ip(8) is not installed (Debian: iproute2)"
}

# elog_netns_have_netem — true when tc netem works here.
elog_netns_have_netem() {
	local ns=${ELOG_NETNS_PREFIX}-c
	command -v tc >/dev/null || return 1
	ip netns exec "$ns" tc qdisc add dev lo root netem delay 1ms 2>/dev/null || return 1
	ip netns exec "$ns" tc qdisc del dev lo root 2>/dev/null
	return 0
}

# Namespaces left by a bats run that was killed before its teardown (its
# process is gone): deleted, so they do not pile up.
elog_netns_reap() {
	local ns pid
	while read -r ns _; do
		[[ $ns =~ ^elog([0-9]+)t[0-9]+- ]] || continue
		pid=${BASH_REMATCH[1]}
		[ -d "/proc/$pid" ] || ip netns delete "$ns" 2>/dev/null || true
	done < <(ip netns list 2>/dev/null)
}

# elog_netns_setup NODES — the namespaces above; sets ELOG_NETNS_PREFIX.
elog_netns_setup() {
	local nodes=$1 br i ns
	elog_netns_reap
	ELOG_NETNS_NET=$(( ${BATS_SUITE_TEST_NUMBER:-${BATS_TEST_NUMBER:-1}} % 250 + 1 ))
	ELOG_NETNS_PREFIX=elog$$t$ELOG_NETNS_NET
	ELOG_NETNS_NODES=$nodes
	br=${ELOG_NETNS_PREFIX}-br
	echo "$br" >>"$ELOG_TMP/netns.list"
	ip netns add "$br" || fail "cannot create network namespace $br"
	ip -n "$br" link set lo up
	ip -n "$br" link add br0 type bridge
	ip -n "$br" link set br0 up
	for i in $(seq 1 "$nodes") c; do
		ns=${ELOG_NETNS_PREFIX}-$i
		echo "$ns" >>"$ELOG_TMP/netns.list"
		ip netns add "$ns" || fail "cannot create network namespace $ns"
		ip -n "$ns" link set lo up
		ip -n "$br" link add "v$i" type veth peer name eth0 netns "$ns" ||
			fail "cannot create the veth pair of $ns"
		ip -n "$br" link set "v$i" master br0
		ip -n "$br" link set "v$i" up
		ip -n "$ns" addr add "$(elog_netns_addr "$i")/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
}

# elog_netns_addr NODE — its address.
elog_netns_addr() {
	if [ "$1" = c ]; then
		echo "10.77.$ELOG_NETNS_NET.100"
	else
		echo "10.77.$ELOG_NETNS_NET.$1"
	fi
}

# elog_netns_name NODE — its namespace.
elog_netns_name() {
	echo "${ELOG_NETNS_PREFIX}-$1"
}

# elog_netns_exec NODE CMD [ARGS...] — run CMD in the node's namespace (ip
# netns exec execs it: with elog_spawn the recorded PID is CMD's own).
elog_netns_exec() {
	local node=$1
	shift
	ip netns exec "${ELOG_NETNS_PREFIX}-$node" "$@"
}

# The nodes other than NODE, clients included.
elog_netns_others() {
	local i
	for i in $(seq 1 "$ELOG_NETNS_NODES") c; do
		[ "$i" = "$1" ] || echo "$i"
	done
}

elog_netns_log() {
	echo "$(date -u +%s%3N) $(date -u +%FT%T.%3NZ) net $*" >>"$ELOG_TMP/netns.log"
}

elog_netns_isolate() {
	ip -n "${ELOG_NETNS_PREFIX}-br" link set "v$1" down
	elog_netns_log "isolate $1"
}

# Point NODE's neighbour entry for ADDR at nobody.
elog_netns_blackhole() {
	ip -n "${ELOG_NETNS_PREFIX}-$1" neigh replace "$2" lladdr "$ELOG_NETNS_BOGUS_MAC" \
		dev eth0 nud permanent
	echo "$1 $2" >>"$ELOG_TMP/netns.neigh"
}

elog_netns_drop_out() {
	local o
	for o in $(elog_netns_others "$1"); do
		elog_netns_blackhole "$1" "$(elog_netns_addr "$o")"
	done
	elog_netns_log "drop-out $1"
}

elog_netns_drop_in() {
	local o addr
	addr=$(elog_netns_addr "$1")
	for o in $(elog_netns_others "$1"); do
		elog_netns_blackhole "$o" "$addr"
	done
	elog_netns_log "drop-in $1"
}

# elog_netns_heal [NODE] — NODE's port up, its blackholed entries (and
# everyone's entries for it) gone, its netem removed; every node when none
# is given.
elog_netns_heal() {
	local node=${1:-} i ns addr n a keep
	for i in $(seq 1 "$ELOG_NETNS_NODES") c; do
		[ -z "$node" ] || [ "$i" = "$node" ] || continue
		ip -n "${ELOG_NETNS_PREFIX}-br" link set "v$i" up
		ip -n "${ELOG_NETNS_PREFIX}-$i" link set eth0 up
		ip netns exec "${ELOG_NETNS_PREFIX}-$i" tc qdisc del dev eth0 root 2>/dev/null || true
	done
	if [ -f "$ELOG_TMP/netns.neigh" ]; then
		[ -z "$node" ] || addr=$(elog_netns_addr "$node")
		keep=$ELOG_TMP/netns.neigh.keep
		: >"$keep"
		while read -r n a; do
			if [ -z "$node" ] || [ "$n" = "$node" ] || [ "$a" = "$addr" ]; then
				ns=${ELOG_NETNS_PREFIX}-$n
				ip -n "$ns" neigh del "$a" dev eth0 2>/dev/null || true
			else
				echo "$n $a" >>"$keep"
			fi
		done <"$ELOG_TMP/netns.neigh"
		mv "$keep" "$ELOG_TMP/netns.neigh"
	fi
	elog_netns_log "heal ${node:-all}"
}

elog_netns_netem() {
	local node=$1
	shift
	if ! ip netns exec "${ELOG_NETNS_PREFIX}-$node" tc qdisc replace dev eth0 root netem "$@" \
		2>"$ELOG_TMP/netns.tc.err"; then
		ELOG_NETNS_WHY="tc netem is not available here: $(head -n 1 "$ELOG_TMP/netns.tc.err")"
		return 1
	fi
	elog_netns_log "netem $node $*"
}

elog_netns_delay() {
	elog_netns_netem "$1" delay "${2}ms"
}

elog_netns_loss() {
	elog_netns_netem "$1" loss "${2}%"
}

# elog_netns_teardown — delete every namespace this test made. Safe to call
# when none was made, and more than once.
elog_netns_teardown() {
	local ns
	[ -n "${ELOG_TMP:-}" ] && [ -f "$ELOG_TMP/netns.list" ] || return 0
	while read -r ns; do
		ip netns delete "$ns" 2>/dev/null || true
	done <"$ELOG_TMP/netns.list"
	rm -f "$ELOG_TMP/netns.list"
}
