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
	[ ! -e d ]
}

@test "a data directory belongs to one broker id: another --id, or a damaged broker.id, is refused naming the file" {
	cluster_ports 2
	cluster_start 1
	run -0 cat d1/broker.id
	assert_output "1"
	cluster_stop 1
	# Broker 2 given broker 1's directory (a swapped deploy): refused.
	run -1 --separate-stderr elog-serve -d d1 -l "127.0.0.1:${PORTS[2]}" --id 2 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: d1/broker.id: this directory is broker 1's, not broker 2's (--id): see \"Replacing a broker\" in docs/operations.md"
	run -0 cat d1/broker.id
	assert_output "1"
	printf '1x\n' >d1/broker.id
	run -1 --separate-stderr elog-serve -d d1 -l "127.0.0.1:${PORTS[1]}" --id 1 --cluster "$CLUSTER"
	assert_equal "$stderr" "elog-serve: cannot start: d1/broker.id: damaged (not a broker id and a newline): see \"Replacing a broker\" in docs/operations.md"
	# The same id starts again on its own directory.
	printf '1\n' >d1/broker.id
	cluster_start 1
	cluster_stop 1
	assert_equal "$ELOG_STOP_STATUS" 0
}
