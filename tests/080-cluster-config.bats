#!/usr/bin/env bats
# elog-serve --id/--cluster (and the keys broker_id, cluster): what is
# refused, with one line and exit 2 (exit 1 from a config file), and that
# a broker without --cluster writes no Raft state.

bats_require_minimum_version 1.5.0
load helpers
load cluster

setup() {
	elog_setup
	elog_need elog-serve elog-freeport
	cd "$ELOG_TMP"
}

USAGE='usage: elog-serve [-h] [--salvage-metadata] [--version] [-c file] [-d dir] [-l host:port] [--cluster list] [--id n]'

@test "bad cluster lists are refused with one line and exit 2" {
	run -2 --separate-stderr elog-serve -d d -l 127.0.0.1:9001 --id 1 --cluster '1@127.0.0.1:9001,1@127.0.0.1:9002'
	assert_equal "$stderr" "elog-serve: --cluster: broker id 1 given twice
$USAGE"
	run -2 --separate-stderr elog-serve -d d -l 127.0.0.1:9001 --id 4 --cluster '1@127.0.0.1:9001,2@127.0.0.1:9002'
	assert_equal "$stderr" "elog-serve: cluster: broker id 4 is not in the cluster list
$USAGE"
	run -2 --separate-stderr elog-serve -d d -l 127.0.0.1:9005 --id 1 --cluster '1@127.0.0.1:9001,2@127.0.0.1:9002'
	assert_equal "$stderr" "elog-serve: cluster: broker 1's cluster entry has port 9001, but it listens on port 9005
$USAGE"
	run -2 --separate-stderr elog-serve -d d --id 1 --cluster '1@h:1,2@h:2,3@h:3,4@h:4,5@h:5,6@h:6,7@h:7,8@h:8'
	assert_equal "$stderr" "elog-serve: --cluster: more than 7 brokers
$USAGE"
	run -2 --separate-stderr elog-serve -d d --id 1 --cluster '1@bad/host:9001'
	assert_equal "$stderr" "elog-serve: --cluster: \"1@bad/host:9001\": bad host
$USAGE"
	run -2 --separate-stderr elog-serve -d d --id x --cluster '1@h:9001'
	assert_equal "$stderr" "elog-serve: --id: \"x\" is not a number
$USAGE" || assert_regex "$stderr" '^elog-serve: --id: '
	[ ! -e d ]
}

@test "the same from a config file: file:line and exit 1" {
	printf 'cluster = 1@127.0.0.1:9001,2@127.0.0.1:9001:x\n' >c.conf
	run -1 --separate-stderr elog-serve -c c.conf -d d
	assert_regex "$stderr" '^elog-serve: c\.conf:1: cluster: "2@127\.0\.0\.1:9001:x": bad (host|port) .*'
	printf 'broker_id = 3\ncluster = 1@127.0.0.1:9001,2@127.0.0.1:9002\nlisten = 127.0.0.1:9001\n' >c.conf
	run -1 --separate-stderr elog-serve -c c.conf -d d
	assert_equal "$stderr" "elog-serve: cluster: broker id 3 is not in the cluster list"
	printf 'default_replication_factor = 8\n' >c.conf
	run -1 --separate-stderr elog-serve -c c.conf -d d
	assert_regex "$stderr" '^elog-serve: c\.conf:1: default_replication_factor: '
	# A duration without its unit is refused (0, "off", needs none).
	printf 'leader_balance_interval = 30\n' >c.conf
	run -1 --separate-stderr elog-serve -c c.conf -d d
	assert_regex "$stderr" '^elog-serve: c\.conf:1: leader_balance_interval: '
	[ ! -e d ]
}

@test "a data directory belongs to one broker id: another --id, or a damaged broker.id, is refused naming the file" {
	cluster_ports 2
	cluster_start 1
	cluster_start 2
	run -0 cat d1/broker.id
	assert_output "1"
	# Elected: the metadata group's raft.state is written.
	elog_wait_until 20 eval '[ -s d1/__meta/0/raft.state ]' || fail "no raft.state: $(cat b1.err)"
	cluster_stop 1
	cluster_stop 2
	# Broker 2 given broker 1's directory (a swapped deploy): refused.
	run -1 --separate-stderr elog-serve -d d1 -l "127.0.0.1:${PORTS[2]}" --id 2 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: d1/broker.id: this directory is broker 1's, not broker 2's (--id): see \"Replacing a broker\" in docs/operations.md"
	run -0 cat d1/broker.id
	assert_output "1"
	printf '1x\n' >d1/broker.id
	run -1 --separate-stderr elog-serve -d d1 -l "127.0.0.1:${PORTS[1]}" --id 1 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: d1/broker.id: damaged (not a broker id and a newline): see \"Replacing a broker\" in docs/operations.md"
	# No broker.id but Raft state: someone's directory, refused.
	rm d1/broker.id
	run -1 --separate-stderr timeout 20 elog-serve -d d1 -l "127.0.0.1:${PORTS[1]}" --id 1 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: d1/broker.id: missing, but the directory holds Raft state (d1/__meta/0/raft.state): see \"Replacing a broker\" in docs/operations.md"
	# The same id starts again on its own directory.
	printf '1\n' >d1/broker.id
	cluster_start 1
	cluster_stop 1
	assert_equal "$ELOG_STOP_STATUS" 0
}

# A RAFT frame that claims to come from broker 2: a vote request (a
# leadership transfer) in term 1000, as anyone who reaches the port can send.
FORGED=3c0000000b00010000000000020000000100000001000000000000000000000000000000000003e80300000000000040420f0000000000e80300000000000001

@test "cluster_secret_file: brokers that share it form a cluster; a forged RAFT frame is dropped, unauthenticated" {
	elog_need elog-probe elog-produce elog-consume elog-topic
	local i
	head -c 48 /dev/urandom | base64 >secret
	chmod 600 secret
	printf 'cluster_secret_file = %s\n' "$ELOG_TMP/secret" >c.conf
	cluster_ports 3
	for i in 1 2 3; do
		cluster_start "$i" -c c.conf
	done
	run -1 grep -l 'cluster traffic is not authenticated' b1.err b2.err b3.err
	cluster_wait_leader metadata
	run -0 elog-topic -b "$LADDR" create -r 3 t
	seq 1 100 | sed 's/.*/{"n":&}/' >in
	run -0 elog-produce -b "$LADDR" -a all t <in
	run -0 --separate-stderr elog-consume -b "$LADDR" -e t
	assert_equal "$output" "$(cat in)"
	run -0 elog-probe -b "127.0.0.1:${PORTS[1]}" raw "$FORGED"
	elog_wait_until 10 grep -q 'msg="raft frame dropped" .* reason="from broker 2: not authenticated' b1.err ||
		fail "no warning: $(cat b1.err)"
	run -1 grep -q ' term=1000 ' b1.err b2.err b3.err
	run -0 elog-produce -b "$LADDR" -a all t <in
}

@test "without cluster_secret_file the same forged frame is obeyed (why the secret matters), with a warning at start" {
	elog_need elog-probe
	cluster_ports 3
	cluster_start 1
	cluster_start 3
	grep -q 'level=warn msg="cluster traffic is not authenticated"' b1.err || fail "no warning: $(cat b1.err)"
	cluster_wait_leader metadata
	run -0 elog-probe -b "127.0.0.1:${PORTS[1]}" raw "$FORGED"
	# Broker 1 moved to term 1000 on the word of a stranger: the next
	# leader of the metadata group is elected past it.
	elog_wait_until 20 grep -qE 'msg="raft role" group=metadata role=leader term=10[0-9][0-9] ' b1.err b3.err ||
		fail "the forged vote had no effect: $(cat b1.err b3.err)"
}

@test "cluster_secret_file: a readable-by-others, short or missing file is refused; a broker with another secret is not heard" {
	cluster_ports 3
	head -c 48 /dev/urandom | base64 >secret
	chmod 644 secret
	printf 'cluster_secret_file = %s\n' "$ELOG_TMP/secret" >c.conf
	run -1 --separate-stderr elog-serve -c c.conf -d d1 -l "127.0.0.1:${PORTS[1]}" --id 1 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: cluster_secret_file: $ELOG_TMP/secret: readable or writable by group or others (mode 644): chmod 600 it"
	printf 'short\n' >secret
	chmod 600 secret
	run -1 --separate-stderr elog-serve -c c.conf -d d1 -l "127.0.0.1:${PORTS[1]}" --id 1 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: cluster_secret_file: $ELOG_TMP/secret: the secret is 5 bytes, not 32 to 4096"
	rm secret
	run -1 --separate-stderr elog-serve -c c.conf -d d1 -l "127.0.0.1:${PORTS[1]}" --id 1 --cluster "$CLUSTER"
	assert_regex "$stderr" "^elog-serve: cannot start: cluster_secret_file: $ELOG_TMP/secret: cannot open: "
	# Two secrets: broker 2's hellos fail at broker 1.
	head -c 48 /dev/urandom | base64 >secret
	head -c 48 /dev/urandom | base64 >other
	chmod 600 secret other
	printf 'cluster_secret_file = %s\n' "$ELOG_TMP/other" >o.conf
	cluster_start 1 -c c.conf
	cluster_start 2 -c o.conf
	elog_wait_until 10 grep -q 'msg="raft frame dropped" .* reason="hello from broker 2: wrong secret' b1.err ||
		fail "no warning: $(cat b1.err)"
}
