/*
 * clusterctl — the small jobs bench/cluster needs done through libcore's
 * client rather than through the tools: free ports before brokers start,
 * "is the cluster ready", "who leads this partition", and the failover
 * measurement. Not a bench program of its own (bench/run's loop runs only
 * bench_*); bench/cluster calls it.
 *
 *   clusterctl ports N
 *       Bind N sockets on 127.0.0.1 port 0 at once, print their ports on
 *       one line, close them. Another process may take one before the
 *       broker does: callers retry with new ports when a broker cannot
 *       listen.
 *
 *   clusterctl ready -b brokers [-AI] [-B count] [-P partitions] [-t timeout_ms] [topic ...]
 *       Poll METADATA (every 20 ms) until it answers (with -A: that is
 *       all; it asks for no topic), names at least
 *       `count` brokers, and every partition of the topics (every topic
 *       when none is named) has a leader (leader_id >= 0, no error); with
 *       -P, until the topics hold at least that many partitions in all;
 *       with -I, until every replica of every partition is in sync as the
 *       partition's leader reports it (each broker of the list is asked
 *       on its own: a follower does not know).
 *       Prints "ready ms=<since start> topics=N partitions=N leaders=id:n,..."
 *       Exit 1 when the timeout passes first (the last reason is printed).
 *
 *   clusterctl leader -b brokers -p partition [-t timeout_ms] topic
 *       Print "<leader id> <host:port>" of the partition (polling until it
 *       has a leader, within the timeout). The address is METADATA's, or,
 *       when METADATA does not list that broker, the one of the -b list
 *       that answers as that id.
 *
 *   clusterctl failover -b brokers -k id:pid,... [-p partition] [-a acks]
 *                       [-R rate] [-w warmup_ms] [-A after_ms] [-s bytes]
 *                       [-M max_ms] topic
 *       A steady producer (rate records/s, linger 0, every other setting the
 *       client library's default — the default timeouts) into the
 *       partition. After warmup_ms it asks METADATA for the partition's
 *       leader, sends SIGKILL to the pid given for that id and prints
 *       "killed broker=<id> pid=<pid>". It then measures, on CLOCK_MONOTONIC,
 *       from the kill to the acknowledgement of the first record sent after
 *       the kill (a record acknowledged later than one sent before it is
 *       never counted: acknowledgements already on their way when the
 *       leader died do not make failover look fast). It keeps producing
 *       for after_ms more, flushes, and prints
 *       "failover ms=<x> sent=N acked=N failed=N kill_unix_ms=T ack_unix_ms=T"
 *       (the wall-clock moments, to read beside the brokers' logs).
 *       The caller restarts the killed broker (for a single broker: right
 *       after the "killed" line, which is what makes the single-broker run a
 *       test of this tool's timing rather than a failover figure).
 *       Exit 1 when no record sent after the kill is acknowledged within
 *       max_ms (default 60000), or a record fails.
 *
 * Exit status: 0 done, 1 failed (timeout, broker error), 2 bad usage.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "client.h"
#include "err.h"

#include "bench_common.h"

#define PROG "clusterctl"
#define die(...) bench_die(PROG, __VA_ARGS__)

#define CTL_PORTS_MAX 16u
#define CTL_KILL_MAX 16u
#define CTL_POLL_MS 20
#define CTL_POLLFDS_MAX 16
#define CTL_FLUSH_TIMEOUT_MS 60000
#define CTL_RECORD_BYTES_MAX 4096u
#define CTL_REQUEST_TIMEOUT_MS 2000         /* each METADATA poll: a stuck broker is retried */

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: " PROG " ports N\n"
		"       " PROG " ready -b brokers [-AI] [-B count] [-P partitions] [-t timeout_ms] [topic ...]\n"
		"       " PROG " leader -b brokers -p partition [-t timeout_ms] topic\n"
		"       " PROG " failover -b brokers -k id:pid,... [-p partition] [-a acks] [-R rate]\n"
		"                 [-w warmup_ms] [-A after_ms] [-s bytes] [-M max_ms] topic\n");
	exit(status);
}

static uint64_t now_ms(void)
{
	return now_ns() / 1000000ull;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* ------------------------------------------------------------ ports */

static int cmd_ports(int argc, char **argv)
{
	int fds[CTL_PORTS_MAX];
	uint32_t n;

	if (argc != 2)
		usage(2);
	n = (uint32_t)bench_option_u64(PROG, 'N', argv[1], 1, CTL_PORTS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);

		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) < 0)
			die("cannot bind a loopback port: %s", strerror(errno));
		printf("%s%u", i ? " " : "", (unsigned)ntohs(a.sin_port));
	}
	printf("\n");
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/* ------------------------------------------------------------ metadata */

static struct elog_client *client_open(const char *brokers)
{
	struct elog_client_config cc;
	struct elog_client *c;
	struct elog_err err;

	elog_client_config_init(&cc);
	cc.brokers = brokers;
	cc.connect_timeout_ms = CTL_REQUEST_TIMEOUT_MS;
	cc.request_timeout_ms = CTL_REQUEST_TIMEOUT_MS;
	if (!(c = elog_client_new(&cc, &err)))
		die("%s", err.msg);
	return c;
}

/* Why md is not ready yet (into why), or NULL when it is. */
static const char *metadata_check(const struct elog_metadata *md, uint32_t brokers_min,
				  uint64_t partitions_min, char *why, size_t cap,
				  uint64_t *partitions_out)
{
	uint64_t partitions = 0;

	if (md->broker_count < brokers_min) {
		snprintf(why, cap, "%u of %u brokers known", md->broker_count, brokers_min);
		return why;
	}
	for (uint32_t t = 0; t < md->topic_count; t++) {
		const struct elog_meta_topic *mt = &md->topics[t];

		if (mt->error) {
			snprintf(why, cap, "topic '%s': error %d", mt->name, mt->error);
			return why;
		}
		for (uint32_t p = 0; p < mt->partition_count; p++) {
			const struct elog_meta_partition *mp = &mt->partitions[p];

			if (mp->error || mp->leader_id < 0) {
				snprintf(why, cap, "topic '%s' partition %u: %s", mt->name, mp->id,
					 mp->error ? "error" : "no leader");
				return why;
			}
		}
		partitions += mt->partition_count;
	}
	*partitions_out = partitions;
	if (partitions < partitions_min) {
		snprintf(why, cap, "%" PRIu64 " of %" PRIu64 " partitions", partitions,
			 partitions_min);
		return why;
	}
	return NULL;
}

/*
 * -I: only a partition's leader knows whether its followers keep up (a
 * follower reports none in sync). Ask every broker of the list on its own;
 * each one counts the partitions it leads whose replicas are all in sync.
 * The broker's own id is the entry of METADATA's broker list with its
 * port (the only entry, for a broker alone).
 */
struct sync_probe {
	uint32_t count;
	struct elog_broker_addr addrs[ELOG_BROKERS_MAX];
	struct elog_client *clients[ELOG_BROKERS_MAX];
};

static void sync_probe_open(struct sync_probe *sp, const char *brokers)
{
	struct elog_err err;
	size_t n;

	if (elog_brokers_parse(brokers, sp->addrs, ELOG_BROKERS_MAX, &n, &err) < 0)
		die("%s", err.msg);
	sp->count = (uint32_t)n;
	for (uint32_t i = 0; i < sp->count; i++) {
		char one[ELOG_HOST_MAX + 16];

		elog_broker_addr_format(&sp->addrs[i], one, sizeof(one));
		sp->clients[i] = client_open(one);
	}
}

static void sync_probe_close(struct sync_probe *sp)
{
	for (uint32_t i = 0; i < sp->count; i++)
		elog_client_free(sp->clients[i]);
}

/* Partitions of the topics whose leader answers that every replica is in sync. */
static uint64_t sync_probe_count(struct sync_probe *sp, const char *const *topics, size_t n)
{
	uint64_t synced = 0;

	for (uint32_t i = 0; i < sp->count; i++) {
		struct elog_err err;
		const struct elog_metadata *md = elog_client_metadata(sp->clients[i], topics, n, &err);
		int32_t self = -1;

		if (!md)
			continue;
		for (uint32_t k = 0; k < md->broker_count; k++)
			if (md->brokers[k].port == sp->addrs[i].port || md->broker_count == 1)
				self = md->brokers[k].id;
		for (uint32_t t = 0; t < md->topic_count; t++)
			for (uint32_t p = 0; p < md->topics[t].partition_count; p++) {
				const struct elog_meta_partition *mp = &md->topics[t].partitions[p];

				synced += mp->leader_id == self && self >= 0 &&
					  mp->isr_count >= mp->replica_count;
			}
	}
	return synced;
}

static void print_leaders(const struct elog_metadata *md)
{
	int32_t ids[ELOG_BROKERS_MAX];
	uint64_t counts[ELOG_BROKERS_MAX];
	uint32_t n = 0;

	for (uint32_t t = 0; t < md->topic_count; t++)
		for (uint32_t p = 0; p < md->topics[t].partition_count; p++) {
			int32_t id = md->topics[t].partitions[p].leader_id;
			uint32_t k = 0;

			while (k < n && ids[k] != id)
				k++;
			if (k == n) {
				if (n == ELOG_BROKERS_MAX)
					continue;
				ids[n] = id;
				counts[n++] = 0;
			}
			counts[k]++;
		}
	printf(" leaders=");
	for (uint32_t k = 0; k < n; k++)
		printf("%s%d:%" PRIu64, k ? "," : "", ids[k], counts[k]);
	if (n == 0)
		printf("none");
}

static int cmd_ready(int argc, char **argv)
{
	const char *brokers = NULL;
	uint32_t brokers_min = 1;
	uint64_t partitions_min = 0, timeout_ms = 30000, start = now_ms(), partitions = 0;
	char why[ELOG_ERR_MSG_MAX + 64] = "no answer yet";
	struct elog_client *c;
	const struct elog_metadata *md;
	struct elog_err err;
	struct sync_probe sp;
	int opt, all_in_sync = 0, answer_only = 0;

	while ((opt = getopt(argc, argv, "b:AB:IP:t:")) != -1) {
		switch (opt) {
		case 'b': brokers = optarg; break;
		case 'A': answer_only = 1; break;
		case 'I': all_in_sync = 1; break;
		case 'B': brokers_min = (uint32_t)bench_option_u64(PROG, opt, optarg, 1, 64); break;
		case 'P': partitions_min = bench_option_u64(PROG, opt, optarg, 0, 1000000); break;
		case 't': timeout_ms = bench_option_u64(PROG, opt, optarg, 1, 3600000); break;
		default: usage(2);
		}
	}
	if (!brokers)
		usage(2);
	c = client_open(brokers);
	if (all_in_sync)
		sync_probe_open(&sp, brokers);
	for (;;) {
		static const char *const probe[1] = { "clusterctl-ready-probe" };

		/* -A: one name that is not a topic (METADATA never creates it): the
		 * answer is all that counts, not its size */
		md = answer_only ? elog_client_metadata(c, probe, 1, &err)
				 : elog_client_metadata(c, (const char *const *)(argv + optind),
							(size_t)(argc - optind), &err);
		if (md && answer_only)
			break;
		if (!md)
			snprintf(why, sizeof(why), "%s", err.msg);
		else if (!metadata_check(md, brokers_min, partitions_min, why, sizeof(why),
					 &partitions)) {
			uint64_t synced;

			if (!all_in_sync)
				break;
			synced = sync_probe_count(&sp, (const char *const *)(argv + optind),
						  (size_t)(argc - optind));
			if (synced >= partitions)
				break;
			snprintf(why, sizeof(why), "%" PRIu64 " of %" PRIu64 " partitions have "
				 "every replica in sync, as their leaders report", synced, partitions);
		}
		if (now_ms() - start >= timeout_ms) {
			fprintf(stderr, PROG ": not ready within %" PRIu64 " ms: %s\n", timeout_ms, why);
			if (all_in_sync)
				sync_probe_close(&sp);
			elog_client_free(c);
			return 1;
		}
		usleep(CTL_POLL_MS * 1000);
	}
	printf("ready ms=%" PRIu64 " topics=%u partitions=%" PRIu64, now_ms() - start,
	       md->topic_count, partitions);
	print_leaders(md);
	printf("\n");
	if (all_in_sync)
		sync_probe_close(&sp);
	elog_client_free(c);
	return 0;
}

/* The partition's leader id, polling within timeout_ms; -1 when none came. */
static int32_t leader_of(struct elog_client *c, const char *topic, uint32_t partition,
			 uint64_t timeout_ms, char *addr, size_t cap)
{
	uint64_t start = now_ms();
	struct elog_err err;

	for (;;) {
		const char *topics[1] = { topic };
		const struct elog_metadata *md = elog_client_metadata(c, topics, 1, &err);
		const struct elog_meta_topic *mt = md ? elog_metadata_topic(md, topic) : NULL;

		if (mt && partition < mt->partition_count &&
		    mt->partitions[partition].leader_id >= 0) {
			int32_t id = mt->partitions[partition].leader_id;
			const struct elog_meta_broker *b = elog_metadata_broker(md, id);

			if (b && addr)
				snprintf(addr, cap, "%s:%u", b->host, (unsigned)b->port);
			else if (addr)
				snprintf(addr, cap, "-");
			return id;
		}
		if (now_ms() - start >= timeout_ms)
			return -1;
		usleep(CTL_POLL_MS * 1000);
	}
}

/*
 * The address of broker id among the list's brokers, when METADATA did not
 * name it: the one whose own METADATA entry (its port, or the only entry)
 * has that id. 0 and addr filled, or -1.
 */
static int find_broker(const char *brokers, int32_t id, char *addr, size_t cap)
{
	struct elog_broker_addr addrs[ELOG_BROKERS_MAX];
	struct elog_err err;
	size_t n;

	if (elog_brokers_parse(brokers, addrs, ELOG_BROKERS_MAX, &n, &err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char one[ELOG_HOST_MAX + 16];
		struct elog_client *c;
		const struct elog_metadata *md;
		int found = 0;

		elog_broker_addr_format(&addrs[i], one, sizeof(one));
		c = client_open(one);
		md = elog_client_metadata(c, NULL, 0, &err);
		for (uint32_t k = 0; md && k < md->broker_count; k++)
			found |= md->brokers[k].id == id &&
				 (md->brokers[k].port == addrs[i].port || md->broker_count == 1);
		elog_client_free(c);
		if (found) {
			snprintf(addr, cap, "%s", one);
			return 0;
		}
	}
	return -1;
}

static int cmd_leader(int argc, char **argv)
{
	const char *brokers = NULL;
	uint32_t partition = 0;
	uint64_t timeout_ms = 30000;
	char addr[ELOG_HOST_MAX + 16];
	struct elog_client *c;
	int32_t id;
	int opt;

	while ((opt = getopt(argc, argv, "b:p:t:")) != -1) {
		switch (opt) {
		case 'b': brokers = optarg; break;
		case 'p': partition = (uint32_t)bench_option_u64(PROG, opt, optarg, 0, 1000000); break;
		case 't': timeout_ms = bench_option_u64(PROG, opt, optarg, 1, 3600000); break;
		default: usage(2);
		}
	}
	if (!brokers || optind != argc - 1)
		usage(2);
	c = client_open(brokers);
	id = leader_of(c, argv[optind], partition, timeout_ms, addr, sizeof(addr));
	elog_client_free(c);
	if (id < 0) {
		fprintf(stderr, PROG ": '%s' partition %u: no leader within %" PRIu64 " ms\n",
			argv[optind], partition, timeout_ms);
		return 1;
	}
	if (strcmp(addr, "-") == 0 && find_broker(brokers, id, addr, sizeof(addr)) < 0) {
		fprintf(stderr, PROG ": '%s' partition %u: its leader, broker %d, is not one of %s\n",
			argv[optind], partition, id, brokers);
		return 1;
	}
	printf("%d %s\n", id, addr);
	return 0;
}

/* ------------------------------------------------------------ failover */

struct failover {
	uint64_t sent, acked, failed;
	uint64_t first_after_kill;          /* tag of the first record sent after the kill */
	int killed;                         /* the kill happened */
	uint64_t kill_ns, ack_ns;           /* ack_ns: 0 until that record is acknowledged */
	uint64_t kill_unix_ms, ack_unix_ms; /* the same moments on the wall clock, to read
	                                       beside the brokers' logs */
	char first_error[ELOG_ERR_MSG_MAX];
};

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct failover *f = ctx;

	if (d->error != 0) {
		if (!f->failed)
			snprintf(f->first_error, sizeof(f->first_error), "%s", d->message);
		f->failed += d->record_count;
		return;
	}
	f->acked += d->record_count;
	if (!f->killed || f->ack_ns)
		return;
	for (uint32_t i = 0; i < d->record_count; i++)
		if (d->tags[i] >= f->first_after_kill) {
			f->ack_ns = now_ns();
			f->ack_unix_ms = unix_ms();
			return;
		}
}

struct kill_entry {
	int32_t id;
	pid_t pid;
};

/* "1:123,2:456" */
static uint32_t parse_kill_list(const char *s, struct kill_entry *out, uint32_t max)
{
	uint32_t n = 0;

	while (*s) {
		char *end;
		long id, pid;

		id = strtol(s, &end, 10);
		if (end == s || *end != ':' || id < 0 || id > INT32_MAX)
			break;
		s = end + 1;
		pid = strtol(s, &end, 10);
		if (end == s || pid <= 1 || n == max)
			break;
		out[n].id = (int32_t)id;
		out[n++].pid = (pid_t)pid;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			break;
	}
	if (*s || n == 0) {
		fprintf(stderr, PROG ": -k: want id:pid,... (e.g. 1:4242,2:4243)\n");
		usage(2);
	}
	return n;
}

struct failover_options {
	const char *brokers, *topic;
	struct kill_entry kill[CTL_KILL_MAX];
	uint32_t kill_count, partition, rate_per_s, record_bytes;
	int acks;
	uint64_t warmup_ms, after_ms, max_ms;
};

static void failover_options(int argc, char **argv, struct failover_options *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	o->acks = -1;
	o->rate_per_s = 1000;
	o->record_bytes = 100;
	o->warmup_ms = 1000;
	o->after_ms = 500;
	o->max_ms = 60000;
	while ((opt = getopt(argc, argv, "b:k:p:a:R:w:A:s:M:")) != -1) {
		switch (opt) {
		case 'b': o->brokers = optarg; break;
		case 'k': o->kill_count = parse_kill_list(optarg, o->kill, CTL_KILL_MAX); break;
		case 'p': o->partition = (uint32_t)bench_option_u64(PROG, opt, optarg, 0, 1000000); break;
		case 'a':
			o->acks = strcmp(optarg, "all") == 0 ? -1 :
				  (int)bench_option_u64(PROG, opt, optarg, 1, 1);
			break;
		case 'R': o->rate_per_s = (uint32_t)bench_option_u64(PROG, opt, optarg, 1, 100000); break;
		case 'w': o->warmup_ms = bench_option_u64(PROG, opt, optarg, 0, 600000); break;
		case 'A': o->after_ms = bench_option_u64(PROG, opt, optarg, 0, 600000); break;
		case 's': o->record_bytes = (uint32_t)bench_option_u64(PROG, opt, optarg, 64,
									CTL_RECORD_BYTES_MAX); break;
		case 'M': o->max_ms = bench_option_u64(PROG, opt, optarg, 1, 3600000); break;
		default: usage(2);
		}
	}
	if (!o->brokers || o->kill_count == 0 || optind != argc - 1)
		usage(2);
	o->topic = argv[optind];
}

/* Kill the partition's leader now; records the moment in f. */
static void kill_leader(struct elog_client *c, const struct failover_options *o,
			struct failover *f)
{
	int32_t id = leader_of(c, o->topic, o->partition, o->max_ms, NULL, 0);
	uint32_t k = 0;

	if (id < 0)
		die("'%s' partition %u: no leader to kill", o->topic, o->partition);
	while (k < o->kill_count && o->kill[k].id != id)
		k++;
	if (k == o->kill_count)
		die("the leader is broker %d, which -k does not name", id);
	f->kill_ns = now_ns();
	f->kill_unix_ms = unix_ms();
	if (kill(o->kill[k].pid, SIGKILL) < 0)
		die("kill %ld: %s", (long)o->kill[k].pid, strerror(errno));
	f->killed = 1;
	f->first_after_kill = f->sent;
	printf("killed broker=%d pid=%ld\n", id, (long)o->kill[k].pid);
	fflush(stdout);
}

static int cmd_failover(int argc, char **argv)
{
	struct failover_options o;
	struct failover f;
	struct elog_producer_config pc;
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_record rec;
	struct elog_err err;
	char value[CTL_RECORD_BYTES_MAX];
	uint64_t rng = 42, start, interval_ns, due, stop_ns = 0;

	failover_options(argc, argv, &o);
	memset(&f, 0, sizeof(f));
	c = client_open(o.brokers);
	elog_producer_config_init(&pc);
	pc.acks = o.acks;
	pc.linger_ms = 0;
	pc.on_delivery = on_delivery;
	pc.ctx = &f;
	if (!(p = elog_producer_new(c, o.topic, &pc, &err)))
		die("producer for '%s': %s", o.topic, err.msg);
	memset(&rec, 0, sizeof(rec));
	rec.timestamp_ms = ELOG_TIMESTAMP_NOW;
	rec.value = (const uint8_t *)value;
	rec.value_len = (int32_t)o.record_bytes;
	interval_ns = 1000000000ull / o.rate_per_s;
	start = now_ns();
	due = start;
	for (;;) {
		uint64_t now;

		if (bench_producer_wait_until(p, due, &err) < 0)
			die("%s", err.msg);
		now = now_ns();
		if (!f.killed && now - start >= o.warmup_ms * 1000000ull) {
			kill_leader(c, &o, &f);
			now = now_ns();
		}
		if (f.killed && f.ack_ns && !stop_ns)
			stop_ns = now + o.after_ms * 1000000ull;
		if (stop_ns && now >= stop_ns)
			break;
		if (f.killed && !f.ack_ns && now - f.kill_ns >= o.max_ms * 1000000ull)
			break;
		if (bench_json_value(value, o.record_bytes, f.sent, &rng) < 0)
			die("-s %u: too small for a JSON value", o.record_bytes);
		if (elog_producer_send(p, &rec, (int32_t)o.partition, f.sent, &err) < 0)
			die("producer: record %" PRIu64 ": %s", f.sent, err.msg);
		f.sent++;
		if (elog_producer_poll(p, 0, &err) < 0)
			die("producer: %s", err.msg);
		/* a sender that fell behind (blocked in send) resumes its pace, no burst */
		due = due + interval_ns > now_ns() ? due + interval_ns : now_ns();
	}
	if (elog_producer_flush(p, CTL_FLUSH_TIMEOUT_MS, &err) < 0)
		fprintf(stderr, PROG ": flush: %s\n", err.msg);
	elog_producer_free(p);
	elog_client_free(c);
	if (!f.ack_ns) {
		printf("failover ms=timeout sent=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64 "\n",
		       f.sent, f.acked, f.failed);
		fprintf(stderr, PROG ": no record sent after the kill was acknowledged within %"
			PRIu64 " ms%s%s\n", o.max_ms, f.failed ? "; first failure: " : "",
			f.failed ? f.first_error : "");
		return 1;
	}
	printf("failover ms=%.1f sent=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64
	       " kill_unix_ms=%" PRIu64 " ack_unix_ms=%" PRIu64 "\n",
	       (double)(f.ack_ns - f.kill_ns) / 1e6, f.sent, f.acked, f.failed, f.kill_unix_ms,
	       f.ack_unix_ms);
	if (f.failed) {
		fprintf(stderr, PROG ": %" PRIu64 " records failed; first: %s\n", f.failed,
			f.first_error);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage(2);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		usage(0);
	if (strcmp(argv[1], "ports") == 0)
		return cmd_ports(argc - 1, argv + 1);
	if (strcmp(argv[1], "ready") == 0)
		return cmd_ready(argc - 1, argv + 1);
	if (strcmp(argv[1], "leader") == 0)
		return cmd_leader(argc - 1, argv + 1);
	if (strcmp(argv[1], "failover") == 0)
		return cmd_failover(argc - 1, argv + 1);
	usage(2);
	return 2;
}
