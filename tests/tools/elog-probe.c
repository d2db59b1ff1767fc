/*
 * elog-probe — test-only protocol client for the broker's bats tests: one
 * request per run (or a misbehaving client), answers printed as key=value
 * lines so tests can assert on them.
 *
 *   elog-probe -b HOST:PORT COMMAND [ARGS]
 *
 *   metadata [TOPIC...]        topic=T error=E partitions=N, per partition leader/term;
 *                              with -c (version 2) the broker may create missing topics
 *   create TOPIC [-p N] [-C key=value]...      error=NAME [message=...]
 *   alter TOPIC [-p N] [-C key=value]...
 *   delete TOPIC
 *   describe [TOPIC...]        topic=T error=E partitions=N key=value...; partition lines
 *                              (version 3: ... leader=L term=T replicas=id:in_sync:end:lag,...)
 *   init-producer              producer_id=N epoch=E
 *   produce TOPIC [-P part] [-n records] [-k batches] [-a acks] [-s first]
 *           [-t timestamp] [-I pid] [-E epoch] [-S seq] [-T timeout_ms] [-V value_bytes]
 *           [-z codec] [--join] [--bad N] [--patch OFF:HEX]... [--add32 OFF:DELTA]...
 *           [--append HEX] [--raw-batch HEX] [--keep-crc]
 *                              one line per batch answered: partition=P error=E base_offset=O
 *                              record i: key "key-i", value "value-i", timestamp t + i;
 *                              --join sends the -k batches in one request (one line);
 *                              the tampering options change batch N (default 0) after it
 *                              is built: --raw-batch replaces it, --append adds bytes after
 *                              its records (batch_length follows), --patch overwrites
 *                              bytes at batch byte OFF, --add32 adds DELTA to the u32 at
 *                              OFF; then its crc is recomputed unless --keep-crc
 *   fetch TOPIC [-P part] [-o offset] [-w max_wait_ms] [-m min_bytes] [-x max_bytes] [-r]
 *                              error=E high_watermark=H batches=B records=R elapsed_ms=T;
 *                              with -r also offset=N key=K value=V per record;
 *                              with -A "sent" on stderr once the request is sent
 *   dump TOPIC [-P part]       every record from the start to the high watermark (-r lines)
 *   offsets TOPIC [-P part] -t TS       error=E offset=O
 *   coordinator GROUP          error=NONE partition=P broker=ID host=H port=N
 *   commit GROUP TOPIC:PART=OFFSET[@HW]... [-T timeout_ms] [-M metadata] [--member ID -E EPOCH]
 *                              a standalone OFFSET_COMMIT; topic=T partition=P error=E
 *   heartbeat GROUP [TOPIC...] [--member ID -E EPOCH] [-M T:P,P;T:P] [-T session_ms]
 *                              one GROUP_HEARTBEAT: member=, epoch=, interval=,
 *                              assigned=0|1 [owns= waiting=]
 *   joins GROUP COUNT [TOPIC...] [-T session_ms]
 *                              COUNT joins on one connection: joined=N, and
 *                              refused=N error=E message=M (the first refusal)
 *   committed GROUP [TOPIC[:P,P...]]...   OFFSET_FETCH (no topic: all the group's);
 *                              topic=T partition=P error=E offset=O high_watermark=H
 *                              timed=0|1 metadata=M window=O@H,... (newest first)
 *   raw HEX                    send bytes, print every frame back until the broker closes
 *   garbage N                  N bytes from a fixed pseudo-random sequence, then as raw
 *   oversize                   a frame header claiming 2^31 bytes, then as raw
 *   pipeline N                 N metadata requests in one write; ok=N when all answered
 *   hold N                     open N connections, print "held N", wait for stdin to close
 *   stall TOPIC [-k requests]  send fetches of TOPIC and never read; "stalled" then wait for stdin EOF
 *
 * -R VERSION sends requests in that version of their api (default: the newest).
 *
 * Exit 0 when the request got an answer (whatever its error code), 1 on a
 * connection or protocol failure, 2 on a bad command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "buf.h"
#include "bytes.h"
#include "cli.h"
#include "crc32c.h"
#include "proto.h"

#define FRAME_MAX (256u << 20)
#define CONFIGS_MAX 32
#define TAMPERS_MAX 16

struct probe {
	const char *broker;
	uint32_t partition, partitions, records, batches, min_bytes, max_bytes, max_wait_ms;
	uint32_t timeout_ms, value_bytes;
	uint16_t request_version;       /* -R; 0: each api's newest */
	int allow_auto_create;          /* -c */
	int8_t acks;
	int64_t first, offset, timestamp, producer_id;
	int16_t epoch;
	int32_t seq;
	int print_records, have_timestamp, announce;
	const char *configs[CONFIGS_MAX];
	uint32_t config_count;
	enum elog_compression compression;
	int join, keep_crc;
	uint32_t bad_batch;
	const char *patches[TAMPERS_MAX], *adds[TAMPERS_MAX];
	uint32_t patch_count, add_count;
	const char *append_hex, *raw_hex;
	const char *metadata;           /* -M: commit metadata */
	const char *member;             /* --member: commit as this member (epoch -E) */
	int fd;
	uint32_t next_cid;
	struct elog_buf out, in;
};

/* ---------------------------------------------------------------- plumbing */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_broker(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = {0}, *res;
	struct timeval tv = {30, 0};
	int fd, one = 1;

	if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
		elog_cli_error("bad broker address \"%s\"", hostport);
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = 0;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		elog_cli_error("cannot resolve %s", hostport);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		elog_cli_error_errno(errno, "cannot connect to %s", hostport);
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	freeaddrinfo(res);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			elog_cli_error_errno(errno, "send");
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read exactly n bytes; 0 at a clean EOF before any byte, -1 on error. */
static int recv_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(fd, p + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0 && got == 0)
			return 0;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 1;
}

/* Read one frame into pr->in; 1 ok, 0 closed, -1 failed. */
static int read_frame(struct probe *pr, struct elog_frame_header *h)
{
	uint8_t head[ELOG_FRAME_HEADER_SIZE];
	struct elog_err err;
	int rc = recv_all(pr->fd, head, sizeof(head));

	if (rc <= 0)
		return rc;
	if (elog_frame_header_decode(head, sizeof(head), FRAME_MAX, h, &err) < 0) {
		elog_cli_error_err(&err, "bad frame from the broker");
		return -1;
	}
	elog_buf_reset(&pr->in);
	if (elog_buf_reserve(&pr->in, h->length - 8, &err) < 0)
		return -1;
	if (h->length > 8 && recv_all(pr->fd, pr->in.data, h->length - 8) != 1)
		return -1;
	pr->in.len = h->length - 8;
	return 1;
}

/* Send the frame in pr->out, read the answer; r is set past the error
 * fields, *code gets the error code. -1 on a transport failure. */
static int roundtrip(struct probe *pr, struct elog_wire_r *r, int *code)
{
	struct elog_frame_header h;
	const char *msg;
	size_t msg_len;

	if (send_all(pr->fd, pr->out.data, pr->out.len) < 0)
		return -1;
	elog_buf_reset(&pr->out);
	/* Tests wait for this before they act on a long-polling fetch. */
	if (pr->announce)
		fprintf(stderr, "sent\n");
	if (read_frame(pr, &h) != 1) {
		elog_cli_error("no answer: the broker closed the connection");
		return -1;
	}
	elog_wire_r_init(r, pr->in.data, pr->in.len);
	*code = elog_wire_get_response_error(r, &msg, &msg_len);
	if (*code != 0)
		printf("error=%s message=\"%.*s\"\n", elog_proto_error_name(*code), (int)msg_len, msg);
	return 0;
}

static uint16_t version_of(const struct probe *pr, uint16_t api)
{
	return pr->request_version ? pr->request_version : elog_api_version_max(api);
}

static void begin(struct probe *pr, struct elog_wire_w *w, uint16_t api)
{
	elog_wire_w_init(w, &pr->out);
	elog_wire_frame_begin_version(w, api, version_of(pr, api), ++pr->next_cid);
}

static int end(struct elog_wire_w *w)
{
	struct elog_err err;

	if (elog_wire_frame_end(w, &err) < 0) {
		elog_cli_error_err(&err, "request");
		return -1;
	}
	return 0;
}

static int check_end(struct elog_wire_r *r)
{
	struct elog_err err;

	if (elog_wire_r_end(r, &err) < 0) {
		elog_cli_error_err(&err, "bad answer");
		return 1;
	}
	return 0;
}

static void put_names(struct elog_wire_w *w, int argc, char **argv)
{
	elog_wire_put_u32(w, (uint32_t)argc);
	for (int i = 0; i < argc; i++)
		elog_wire_put_cstring(w, argv[i]);
}

static int put_configs(struct probe *pr, struct elog_wire_w *w)
{
	elog_wire_put_u32(w, pr->config_count);
	for (uint32_t i = 0; i < pr->config_count; i++) {
		const char *eq = strchr(pr->configs[i], '=');
		if (!eq) {
			elog_cli_error("-C %s: expected key=value", pr->configs[i]);
			return -1;
		}
		elog_wire_put_string(w, pr->configs[i], (size_t)(eq - pr->configs[i]));
		elog_wire_put_cstring(w, eq + 1);
	}
	return 0;
}

static void print_string(const char *key, const char *s, size_t len)
{
	printf(" %s=%.*s", key, (int)len, s);
}

/* ---------------------------------------------------------------- admin */

static int cmd_metadata(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	uint32_t nb, nt;
	int code;

	begin(pr, &w, ELOG_API_METADATA);
	put_names(&w, argc, argv);
	if (version_of(pr, ELOG_API_METADATA) >= 2)
		elog_wire_put_u8(&w, (uint8_t)pr->allow_auto_create);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	printf("controller=%d", elog_wire_get_i32(&r));
	nb = elog_wire_get_count(&r, 8);
	for (uint32_t i = 0; i < nb; i++) {
		const char *host;
		size_t len;
		int32_t id = elog_wire_get_i32(&r);
		elog_wire_get_string(&r, &host, &len);
		printf(" broker=%d@%.*s:%u", id, (int)len, host, elog_wire_get_u16(&r));
	}
	printf("\n");
	nt = elog_wire_get_count(&r, 8);
	for (uint32_t i = 0; i < nt; i++) {
		const char *name;
		size_t len;
		uint32_t np;
		elog_wire_get_string(&r, &name, &len);
		printf("topic=%.*s error=%s", (int)len, name,
		       elog_proto_error_name(elog_wire_get_i16(&r)));
		np = elog_wire_get_count(&r, 26);
		printf(" partitions=%u\n", np);
		for (uint32_t k = 0; k < np; k++) {
			uint32_t id = elog_wire_get_u32(&r);
			int16_t e = elog_wire_get_i16(&r);
			int32_t leader = elog_wire_get_i32(&r);
			int64_t term = elog_wire_get_i64(&r);
			uint32_t nr = elog_wire_get_count(&r, 4), ni;
			for (uint32_t j = 0; j < nr; j++)
				elog_wire_get_i32(&r);
			ni = elog_wire_get_count(&r, 4);
			for (uint32_t j = 0; j < ni; j++)
				elog_wire_get_i32(&r);
			printf("partition=%u error=%s leader=%d term=%" PRId64 " replicas=%u isr=%u\n", id,
			       elog_proto_error_name(e), leader, term, nr, ni);
		}
	}
	return check_end(&r);
}

static int cmd_create_alter(struct probe *pr, int alter, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	int code;

	if (argc != 1)
		return elog_cli_error("%s: expected one topic", alter ? "alter" : "create"), 2;
	begin(pr, &w, alter ? ELOG_API_ALTER_TOPIC : ELOG_API_CREATE_TOPIC);
	elog_wire_put_cstring(&w, argv[0]);
	elog_wire_put_u32(&w, pr->partitions);
	if (!alter)
		elog_wire_put_u16(&w, 1);
	if (put_configs(pr, &w) < 0 || end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code == 0)
		printf("error=NONE\n");
	return code ? 0 : check_end(&r);
}

static int cmd_delete(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	int code;

	if (argc != 1)
		return elog_cli_error("delete: expected one topic"), 2;
	begin(pr, &w, ELOG_API_DELETE_TOPIC);
	elog_wire_put_cstring(&w, argv[0]);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code == 0)
		printf("error=NONE\n");
	return code ? 0 : check_end(&r);
}

static int cmd_describe(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	uint32_t nt;
	int code;

	begin(pr, &w, ELOG_API_DESCRIBE_TOPICS);
	put_names(&w, argc, argv);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	nt = elog_wire_get_count(&r, 8);
	for (uint32_t i = 0; i < nt; i++) {
		const char *s;
		size_t len;
		uint32_t nc, np;
		elog_wire_get_string(&r, &s, &len);
		printf("topic=%.*s error=%s", (int)len, s, elog_proto_error_name(elog_wire_get_i16(&r)));
		printf(" partitions=%u", elog_wire_get_u32(&r));
		nc = elog_wire_get_count(&r, 4);
		for (uint32_t k = 0; k < nc; k++) {
			const char *v;
			size_t vl;
			elog_wire_get_string(&r, &s, &len);
			elog_wire_get_string(&r, &v, &vl);
			printf(" %.*s=%.*s", (int)len, s, (int)vl, v);
		}
		printf("\n");
		np = elog_wire_get_count(&r, 32);
		for (uint32_t k = 0; k < np; k++) {
			uint32_t id = elog_wire_get_u32(&r);
			int64_t start = elog_wire_get_i64(&r), hw = elog_wire_get_i64(&r);
			uint64_t size = elog_wire_get_u64(&r);
			uint32_t segments = elog_wire_get_u32(&r);
			uint8_t status = elog_wire_get_u8(&r);
			const char *detail;
			size_t dl;
			elog_wire_get_string(&r, &detail, &dl);
			printf("partition=%u log_start=%" PRId64 " high_watermark=%" PRId64 " size=%" PRIu64
			       " segments=%u status=%u detail=\"%.*s\"", id, start, hw, size, segments,
			       status, (int)dl, detail);
			if (version_of(pr, ELOG_API_DESCRIBE_TOPICS) >= 3) {
				/* leader=L term=T replicas=id:in_sync:end:lag,... */
				uint32_t nr;
				printf(" leader=%d", (int)elog_wire_get_i32(&r));
				printf(" term=%" PRIu64 " replicas=", elog_wire_get_u64(&r));
				nr = elog_wire_get_count(&r, 21);
				for (uint32_t q = 0; q < nr; q++) {
					int32_t rid = elog_wire_get_i32(&r);
					unsigned in_sync = elog_wire_get_u8(&r);
					int64_t rend = elog_wire_get_i64(&r);
					printf("%s%d:%u:%" PRId64 ":%" PRId64, q ? "," : "", (int)rid, in_sync,
					       rend, elog_wire_get_i64(&r));
				}
			}
			printf("\n");
		}
	}
	return check_end(&r);
}

static int cmd_init_producer(struct probe *pr)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	int code;
	int64_t id;

	begin(pr, &w, ELOG_API_INIT_PRODUCER);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	id = elog_wire_get_i64(&r);
	printf("producer_id=%" PRId64 " epoch=%d\n", id, elog_wire_get_i16(&r));
	return check_end(&r);
}

static int cmd_offsets(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	const char *msg;
	size_t len;
	int code;
	int16_t e;

	if (argc != 1)
		return elog_cli_error("offsets: expected one topic"), 2;
	begin(pr, &w, ELOG_API_LIST_OFFSETS);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, argv[0]);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, pr->partition);
	elog_wire_put_i64(&w, pr->timestamp);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	elog_wire_get_count(&r, 6);
	elog_wire_get_string(&r, &msg, &len);
	elog_wire_get_count(&r, 16);
	elog_wire_get_u32(&r);
	e = elog_wire_get_i16(&r);
	elog_wire_get_string(&r, &msg, &len);
	printf("error=%s offset=%" PRId64, elog_proto_error_name(e), elog_wire_get_i64(&r));
	if (e)
		print_string("message", msg, len);
	printf("\n");
	return check_end(&r);
}

/* ---------------------------------------------------------------- groups */

static int cmd_coordinator(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	const char *host;
	size_t len;
	uint32_t part;
	int32_t id;
	int code;

	if (argc != 1)
		return elog_cli_error("coordinator: expected one group"), 2;
	begin(pr, &w, ELOG_API_FIND_COORDINATOR);
	elog_wire_put_cstring(&w, argv[0]);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	part = elog_wire_get_u32(&r);
	id = elog_wire_get_i32(&r);
	elog_wire_get_string(&r, &host, &len);
	printf("error=NONE partition=%u broker=%d host=%.*s port=%u\n", part, id, (int)len, host,
	       elog_wire_get_u16(&r));
	return check_end(&r);
}

/* commit GROUP TOPIC:PART=OFFSET[@HW]... (-T timeout_ms, -M metadata):
 * one line per partition answered. */
static int cmd_commit(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	int code;

	if (argc < 1)
		return elog_cli_error("commit: expected a group"), 2;
	begin(pr, &w, ELOG_API_OFFSET_COMMIT);
	elog_wire_put_cstring(&w, argv[0]);
	elog_wire_put_cstring(&w, pr->member ? pr->member : "");
	elog_wire_put_i32(&w, pr->member ? pr->epoch : -1);
	elog_wire_put_u32(&w, pr->timeout_ms);
	/* One topic entry per argument: simple, and enough for the tests. */
	elog_wire_put_u32(&w, (uint32_t)(argc - 1));
	for (int i = 1; i < argc; i++) {
		char topic[512];
		unsigned part;
		long long offset, hw = -1;
		if (sscanf(argv[i], "%511[^:]:%u=%lld@%lld", topic, &part, &offset, &hw) < 3)
			return elog_cli_error("commit: %s: expected TOPIC:PART=OFFSET[@HW]", argv[i]), 2;
		elog_wire_put_cstring(&w, topic);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_u32(&w, part);
		elog_wire_put_i64(&w, offset);
		elog_wire_put_i64(&w, hw);
		elog_wire_put_cstring(&w, pr->metadata ? pr->metadata : "");
	}
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	for (uint32_t t = elog_wire_get_count(&r, 6), i = 0; i < t && !r.failed; i++) {
		const char *name, *msg;
		size_t nl, ml;
		elog_wire_get_string(&r, &name, &nl);
		for (uint32_t n = elog_wire_get_count(&r, 8), k = 0; k < n && !r.failed; k++) {
			uint32_t id = elog_wire_get_u32(&r);
			int16_t e = elog_wire_get_i16(&r);
			elog_wire_get_string(&r, &msg, &ml);
			printf("topic=%.*s partition=%u error=%s", (int)nl, name, id,
			       elog_proto_error_name(e));
			if (e)
				printf(" message=\"%.*s\"", (int)ml, msg);
			printf("\n");
		}
	}
	return check_end(&r);
}

/* committed GROUP [TOPIC[:P,P...]]...: one line per commit. */
static int cmd_committed(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	int code;

	if (argc < 1)
		return elog_cli_error("committed: expected a group"), 2;
	begin(pr, &w, ELOG_API_OFFSET_FETCH);
	elog_wire_put_cstring(&w, argv[0]);
	if (version_of(pr, ELOG_API_OFFSET_FETCH) >= 2) {
		elog_wire_put_cstring(&w, pr->member ? pr->member : "");
		elog_wire_put_i32(&w, pr->member ? pr->epoch : -1);
	}
	elog_wire_put_u32(&w, (uint32_t)(argc - 1));
	for (int i = 1; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		uint32_t n = 0;
		elog_wire_put_string(&w, argv[i], colon ? (size_t)(colon - argv[i]) : strlen(argv[i]));
		for (const char *p = colon; p; p = strchr(p + 1, ','))
			n++;
		elog_wire_put_u32(&w, n);
		for (const char *p = colon; p; p = strchr(p + 1, ','))
			elog_wire_put_u32(&w, (uint32_t)strtoul(p + 1, NULL, 10));
	}
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	for (uint32_t t = elog_wire_get_count(&r, 6), i = 0; i < t && !r.failed; i++) {
		const char *name, *msg, *meta;
		size_t nl, ml, tl;
		elog_wire_get_string(&r, &name, &nl);
		for (uint32_t n = elog_wire_get_count(&r, 8), k = 0; k < n && !r.failed; k++) {
			uint32_t id = elog_wire_get_u32(&r);
			int16_t e = elog_wire_get_i16(&r);
			int64_t offset, time_ms, hw;
			uint32_t window;
			elog_wire_get_string(&r, &msg, &ml);
			offset = elog_wire_get_i64(&r);
			time_ms = elog_wire_get_i64(&r);
			hw = elog_wire_get_i64(&r);
			elog_wire_get_string(&r, &meta, &tl);
			window = elog_wire_get_count(&r, 24);
			printf("topic=%.*s partition=%u error=%s offset=%" PRId64 " high_watermark=%" PRId64
			       " timed=%d metadata=%.*s window=",
			       (int)nl, name, id, elog_proto_error_name(e), offset, hw, time_ms > 0,
			       (int)tl, meta);
			for (uint32_t j = 0; j < window; j++) {
				int64_t o = elog_wire_get_i64(&r);
				elog_wire_get_i64(&r);
				int64_t h = elog_wire_get_i64(&r);
				printf("%s%" PRId64 "@%" PRId64, j ? "," : "", o, h);
			}
			printf("\n");
		}
	}
	return check_end(&r);
}

/* heartbeat GROUP [TOPIC...] (--member ID -E EPOCH, -M OWNED as T:P,P;T:P,
 * -T session ms): one GROUP_HEARTBEAT; prints member=ID epoch=N
 * interval=MS assigned=0|1 [owns=T:P,P... waiting=N]. */
static int cmd_heartbeat(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	const char *id, *owned = pr->metadata ? pr->metadata : "";
	size_t id_len;
	uint32_t topics = 0;
	int code;

	if (argc < 1)
		return elog_cli_error("heartbeat: expected a group"), 2;
	begin(pr, &w, ELOG_API_GROUP_HEARTBEAT);
	elog_wire_put_cstring(&w, argv[0]);
	elog_wire_put_cstring(&w, pr->member ? pr->member : "");
	elog_wire_put_cstring(&w, "");
	elog_wire_put_cstring(&w, "elog-probe");
	elog_wire_put_i32(&w, pr->member ? pr->epoch : 0);
	elog_wire_put_u32(&w, pr->timeout_ms);
	elog_wire_put_cstring(&w, "");
	elog_wire_put_u32(&w, (uint32_t)(argc - 1));
	for (int i = 1; i < argc; i++)
		elog_wire_put_cstring(&w, argv[i]);
	/* -M "t:0,1;u:2": topics separated by ';'. */
	for (const char *p = owned; *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : p + strlen(p))
		topics++;
	elog_wire_put_u32(&w, topics);
	for (const char *p = owned; *p;) {
		const char *stop = strchr(p, ';'), *colon = strchr(p, ':');
		size_t len = stop ? (size_t)(stop - p) : strlen(p);
		uint32_t n = 0;
		if (!colon || colon > p + len)
			return elog_cli_error("heartbeat: -M: expected T:P,P;..."), 2;
		elog_wire_put_string(&w, p, (size_t)(colon - p));
		for (const char *q = colon; q && q < p + len; q = strchr(q + 1, ','))
			n++;
		elog_wire_put_u32(&w, n);
		for (const char *q = colon; q && q < p + len; q = strchr(q + 1, ','))
			elog_wire_put_u32(&w, (uint32_t)strtoul(q + 1, NULL, 10));
		p += len + (stop != NULL);
	}
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return 1;
	if (code)
		return 0;
	elog_wire_get_string(&r, &id, &id_len);
	printf("member=%.*s epoch=%" PRId32, (int)id_len, id, elog_wire_get_i32(&r));
	printf(" interval=%u", elog_wire_get_u32(&r));
	if (elog_wire_get_u8(&r)) {
		printf(" assigned=1 owns=");
		for (uint32_t t = elog_wire_get_count(&r, 6), i = 0; i < t && !r.failed; i++) {
			const char *name;
			size_t nl;
			elog_wire_get_string(&r, &name, &nl);
			printf("%s%.*s:", i ? ";" : "", (int)nl, name);
			for (uint32_t n = elog_wire_get_count(&r, 4), k = 0; k < n && !r.failed; k++)
				printf("%s%u", k ? "," : "", elog_wire_get_u32(&r));
		}
		printf(" waiting=%u\n", elog_wire_get_u32(&r));
	} else {
		printf(" assigned=0\n");
	}
	return check_end(&r);
}

/* joins GROUP COUNT [TOPIC...] (-T session ms): COUNT joins of new members
 * on one connection; prints joined=N and, per refusal's error,
 * refused=N error=E message=M (the first of them). */
static int cmd_joins(struct probe *pr, int argc, char **argv)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	unsigned long count;
	unsigned long joined = 0, refused = 0;
	char first[256] = "";
	int code;

	if (argc < 2 || !(count = strtoul(argv[1], NULL, 10)))
		return elog_cli_error("joins: expected a group and a count"), 2;
	for (unsigned long n = 0; n < count; n++) {
		begin(pr, &w, ELOG_API_GROUP_HEARTBEAT);
		elog_wire_put_cstring(&w, argv[0]);
		elog_wire_put_cstring(&w, "");
		elog_wire_put_cstring(&w, "");
		elog_wire_put_cstring(&w, "elog-probe");
		elog_wire_put_i32(&w, 0);
		elog_wire_put_u32(&w, pr->timeout_ms);
		elog_wire_put_cstring(&w, "");
		elog_wire_put_u32(&w, (uint32_t)(argc - 2));
		for (int i = 2; i < argc; i++)
			elog_wire_put_cstring(&w, argv[i]);
		elog_wire_put_u32(&w, 0);
		if (end(&w) < 0 || send_all(pr->fd, pr->out.data, pr->out.len) < 0)
			return 1;
		elog_buf_reset(&pr->out);
		if (read_frame(pr, &(struct elog_frame_header){0}) != 1)
			return elog_cli_error("no answer: the broker closed the connection"), 1;
		elog_wire_r_init(&r, pr->in.data, pr->in.len);
		{
			const char *msg;
			size_t msg_len;
			code = elog_wire_get_response_error(&r, &msg, &msg_len);
			if (code == 0) {
				joined++;
			} else if (refused++ == 0) {
				snprintf(first, sizeof(first), "error=%s message=\"%.*s\"",
					 elog_proto_error_name(code), (int)(msg_len > 200 ? 200 : msg_len), msg);
			}
		}
	}
	printf("joined=%lu\n", joined);
	if (refused)
		printf("refused=%lu %s\n", refused, first);
	return 0;
}

/* ---------------------------------------------------------------- produce */

static int build_batch(struct probe *pr, struct elog_batch_builder *b, uint64_t first,
		       const uint8_t **out, size_t *len)
{
	static char value[1 << 20];
	struct elog_err err;

	elog_batch_builder_reset(b);
	b->producer_id = pr->producer_id;
	b->producer_epoch = pr->producer_id >= 0 ? pr->epoch : -1;
	b->base_sequence = pr->producer_id >= 0 ? pr->seq : -1;
	for (uint32_t i = 0; i < pr->records; i++) {
		char key[32];
		uint64_t n = first + i;
		struct elog_record rec = {0};
		int vl = snprintf(value, sizeof(value), "value-%" PRIu64, n);
		if ((uint32_t)vl < pr->value_bytes && pr->value_bytes < sizeof(value)) {
			memset(value + vl, '.', pr->value_bytes - (uint32_t)vl);
			vl = (int)pr->value_bytes;
		}
		rec.timestamp_ms = pr->timestamp + (int64_t)n;
		rec.key = (const uint8_t *)key;
		rec.key_len = snprintf(key, sizeof(key), "key-%" PRIu64, n);
		rec.value = (const uint8_t *)value;
		rec.value_len = vl;
		if (elog_batch_builder_add(b, &rec, &err) < 0)
			return elog_cli_error_err(&err, "record"), -1;
	}
	if (elog_batch_builder_finish(b, out, len, &err) < 0)
		return elog_cli_error_err(&err, "batch"), -1;
	return 0;
}

static int produce_answer(struct probe *pr, const char *topic)
{
	struct elog_wire_r r;
	const char *s;
	size_t len;
	int code;
	uint32_t id;
	int16_t e;
	int64_t base;

	(void)topic;
	if (roundtrip(pr, &r, &code) < 0)
		return -1;
	if (code)
		return 0;
	elog_wire_get_count(&r, 6);
	elog_wire_get_string(&r, &s, &len);
	elog_wire_get_count(&r, 24);
	id = elog_wire_get_u32(&r);
	e = elog_wire_get_i16(&r);
	elog_wire_get_string(&r, &s, &len);
	base = elog_wire_get_i64(&r);
	printf("partition=%u error=%s base_offset=%" PRId64 " log_start=%" PRId64, id,
	       elog_proto_error_name(e), base, elog_wire_get_i64(&r));
	if (e)
		print_string("message", s, len);
	printf("\n");
	fflush(stdout);
	return check_end(&r) ? -1 : 0;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode hex digits into buf (appended); -1 on odd length or a bad digit. */
static int hex_append(struct elog_buf *buf, const char *hex)
{
	size_t n = strlen(hex);

	if (n % 2 || elog_buf_reserve(buf, n / 2, NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		buf->data[buf->len++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int tampering(const struct probe *pr)
{
	return pr->patch_count || pr->add_count || pr->append_hex || pr->raw_hex;
}

/* "OFF:REST": the offset, and REST in *rest. */
static int split_offset(const char *spec, size_t *off, const char **rest)
{
	char *end;
	unsigned long v = strtoul(spec, &end, 10);

	if (end == spec || *end != ':')
		return -1;
	*off = v;
	*rest = end + 1;
	return 0;
}

/* Batch `in` changed as the tampering options say, into out; 0, or -1 with a message. */
static int tamper(const struct probe *pr, const uint8_t *in, size_t in_len, struct elog_buf *out)
{
	size_t off;
	const char *rest;

	elog_buf_reset(out);
	if (pr->raw_hex) {
		if (hex_append(out, pr->raw_hex) < 0)
			return elog_cli_error("--raw-batch: bad hex"), -1;
		return 0;
	}
	if (elog_buf_add(out, in, in_len, NULL) < 0)
		return -1;
	if (pr->append_hex) {
		if (hex_append(out, pr->append_hex) < 0)
			return elog_cli_error("--append: bad hex"), -1;
		elog_put32(out->data + ELOG_BATCH_LENGTH_OFFSET, (uint32_t)(out->len - ELOG_BATCH_PREFIX_SIZE));
	}
	for (uint32_t i = 0; i < pr->patch_count; i++) {
		struct elog_buf bytes;
		elog_buf_init(&bytes, 1u << 20);
		if (split_offset(pr->patches[i], &off, &rest) < 0 || hex_append(&bytes, rest) < 0 ||
		    off + bytes.len > out->len) {
			elog_buf_release(&bytes);
			return elog_cli_error("--patch %s: expected OFFSET:HEX inside the batch", pr->patches[i]), -1;
		}
		memcpy(out->data + off, bytes.data, bytes.len);
		elog_buf_release(&bytes);
	}
	for (uint32_t i = 0; i < pr->add_count; i++) {
		long delta;
		char *end;
		if (split_offset(pr->adds[i], &off, &rest) < 0 || off + 4 > out->len ||
		    (delta = strtol(rest, &end, 10), *end || end == rest))
			return elog_cli_error("--add32 %s: expected OFFSET:DELTA inside the batch", pr->adds[i]), -1;
		elog_put32(out->data + off, elog_get32(out->data + off) + (uint32_t)delta);
	}
	if (!pr->keep_crc && out->len >= ELOG_BATCH_HEADER_SIZE) {
		size_t end = (size_t)elog_get32(out->data + ELOG_BATCH_LENGTH_OFFSET) + ELOG_BATCH_PREFIX_SIZE;
		if (end > out->len || end < ELOG_BATCH_CRC_START)
			end = out->len;
		elog_put32(out->data + ELOG_BATCH_PREFIX_SIZE,
			   elog_crc32c(0, out->data + ELOG_BATCH_CRC_START, end - ELOG_BATCH_CRC_START));
	}
	return 0;
}

/* Send the request built in pr->out; print its answer (or count it, acks=0). */
static int produce_send(struct probe *pr, struct elog_wire_w *w, const char *topic)
{
	if (end(w) < 0)
		return -1;
	if (pr->acks == 0) {
		int rc = send_all(pr->fd, pr->out.data, pr->out.len);
		elog_buf_reset(&pr->out);
		return rc;
	}
	return produce_answer(pr, topic);
}

static void produce_begin(struct probe *pr, struct elog_wire_w *w, const char *topic, size_t *count_pos)
{
	begin(pr, w, ELOG_API_PRODUCE);
	elog_wire_put_i8(w, pr->acks);
	elog_wire_put_u32(w, pr->timeout_ms);
	elog_wire_put_u32(w, 1);
	elog_wire_put_cstring(w, topic);
	elog_wire_put_u32(w, 1);
	elog_wire_put_u32(w, pr->partition);
	*count_pos = elog_wire_put_count(w, 0);    /* bytes length, patched as batches go in */
}

static int cmd_produce(struct probe *pr, int argc, char **argv)
{
	struct elog_batch_builder b;
	struct elog_buf changed;
	struct elog_wire_w w;
	size_t count_pos = 0, joined = 0;
	int rc = 0;

	if (argc != 1)
		return elog_cli_error("produce: expected one topic"), 2;
	elog_batch_builder_init(&b, pr->compression, 0);
	elog_buf_init(&changed, FRAME_MAX);
	for (uint32_t k = 0; k < pr->batches && rc == 0; k++) {
		const uint8_t *batch;
		size_t len;
		uint64_t first = (uint64_t)pr->first + (uint64_t)k * pr->records;
		if (build_batch(pr, &b, first, &batch, &len) < 0) {
			rc = 1;
			break;
		}
		if (k == pr->bad_batch && tampering(pr)) {
			if (tamper(pr, batch, len, &changed) < 0) {
				rc = 1;
				break;
			}
			batch = changed.data;
			len = changed.len;
		}
		if (!pr->join || k == 0)
			produce_begin(pr, &w, argv[0], &count_pos);
		elog_wire_put_raw(&w, batch, len);
		joined += len;
		if (pr->join && k + 1 < pr->batches)
			continue;
		elog_wire_patch_count(&w, count_pos, (uint32_t)joined);
		joined = 0;
		rc = produce_send(pr, &w, argv[0]) < 0;
		if (pr->producer_id >= 0)
			pr->seq += (int32_t)pr->records;
	}
	elog_buf_release(&changed);
	elog_batch_builder_release(&b);
	if (rc == 0 && pr->acks == 0)
		printf("sent=%u\n", pr->batches);
	return rc;
}

/* ---------------------------------------------------------------- fetch */

static void print_record(const struct elog_record_view *rec)
{
	printf("offset=%" PRId64 " timestamp=%" PRId64 " key=%.*s value=%.*s\n", rec->offset,
	       rec->timestamp_ms, rec->key_len < 0 ? 4 : rec->key_len,
	       rec->key_len < 0 ? "null" : (const char *)rec->key,
	       rec->value_len < 0 ? 4 : (rec->value_len > 64 ? 64 : rec->value_len),
	       rec->value_len < 0 ? "null" : (const char *)rec->value);
}

/* Walk the batches; count records at or past `from`; print them with -r. */
static int walk_batches(struct probe *pr, const uint8_t *p, size_t len, int64_t from,
			uint32_t *batches, uint32_t *records, int64_t *next)
{
	struct elog_batch_reader reader;
	struct elog_record_view rec;
	struct elog_err err;
	size_t pos = 0;
	int rc = 0;

	elog_batch_reader_init(&reader);
	while (pos < len && rc == 0) {
		if (elog_batch_reader_open(&reader, p + pos, len - pos, &err) < 0) {
			elog_cli_error_err(&err, "batch at byte %zu", pos);
			rc = -1;
			break;
		}
		(*batches)++;
		while ((rc = elog_batch_reader_next(&reader, &rec, &err)) == 1) {
			if (rec.offset < from)
				continue;
			(*records)++;
			*next = rec.offset + 1;
			if (pr->print_records)
				print_record(&rec);
		}
		if (rc < 0)
			elog_cli_error_err(&err, "record");
		pos += elog_batch_total_size(&reader.header);
	}
	elog_batch_reader_release(&reader);
	return rc;
}

static int fetch_once(struct probe *pr, const char *topic, int64_t offset, int64_t *next,
		      int64_t *hw_out, int quiet)
{
	struct elog_wire_w w;
	struct elog_wire_r r;
	const char *s;
	const uint8_t *data;
	size_t len, msg_len;
	int code;
	int16_t e;
	int64_t t0 = now_ms(), hw, start;
	uint32_t batches = 0, records = 0;

	begin(pr, &w, ELOG_API_FETCH);
	elog_wire_put_u32(&w, pr->max_wait_ms);
	elog_wire_put_u32(&w, pr->min_bytes);
	elog_wire_put_u32(&w, pr->max_bytes);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, topic);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, pr->partition);
	elog_wire_put_i64(&w, offset);
	elog_wire_put_u32(&w, pr->max_bytes);
	if (end(&w) < 0 || roundtrip(pr, &r, &code) < 0)
		return -1;
	if (code)
		return 1;
	elog_wire_get_count(&r, 6);
	elog_wire_get_string(&r, &s, &len);
	elog_wire_get_count(&r, 28);
	elog_wire_get_u32(&r);
	e = elog_wire_get_i16(&r);
	elog_wire_get_string(&r, &s, &msg_len);
	hw = elog_wire_get_i64(&r);
	start = elog_wire_get_i64(&r);
	elog_wire_get_bytes(&r, &data, &len);
	if (check_end(&r))
		return -1;
	*next = offset;
	if (e == 0 && walk_batches(pr, data, len, offset, &batches, &records, next) < 0)
		return -1;
	*hw_out = hw;
	if (!quiet || e) {
		printf("error=%s high_watermark=%" PRId64 " log_start=%" PRId64
		       " batches=%u records=%u bytes=%zu elapsed_ms=%" PRId64,
		       elog_proto_error_name(e), hw, start, batches, records, len, now_ms() - t0);
		if (e)
			print_string("message", s, msg_len);
		printf("\n");
	}
	return e ? 1 : 0;
}

static int cmd_fetch(struct probe *pr, int argc, char **argv)
{
	int64_t next, hw;

	if (argc != 1)
		return elog_cli_error("fetch: expected one topic"), 2;
	return fetch_once(pr, argv[0], pr->offset, &next, &hw, 0) < 0;
}

/* Every record from offset (default 0) to the high watermark. */
static int cmd_dump(struct probe *pr, int argc, char **argv)
{
	int64_t offset = pr->offset, next, hw = 0;

	if (argc != 1)
		return elog_cli_error("dump: expected one topic"), 2;
	pr->print_records = 1;
	pr->max_wait_ms = 0;
	for (uint32_t i = 0; i < 1000000; i++) {
		int rc = fetch_once(pr, argv[0], offset, &next, &hw, 1);
		if (rc != 0)
			return rc < 0;
		if (next >= hw || next == offset)
			break;
		offset = next;
	}
	return 0;
}

/* ---------------------------------------------------------------- misbehaving */

static int print_frames(struct probe *pr)
{
	struct elog_frame_header h;
	int rc;

	while ((rc = read_frame(pr, &h)) == 1) {
		struct elog_wire_r r;
		const char *msg;
		size_t len;
		int code;
		elog_wire_r_init(&r, pr->in.data, pr->in.len);
		code = elog_wire_get_response_error(&r, &msg, &len);
		printf("frame api=0x%04x correlation_id=%u error=%s message=\"%.*s\"\n", h.api,
		       h.correlation_id, elog_proto_error_name(code), (int)len, msg);
		fflush(stdout);
	}
	printf("closed\n");
	return rc < 0;
}

static int cmd_raw(struct probe *pr, int argc, char **argv)
{
	size_t n;

	if (argc != 1 || strlen(argv[0]) % 2)
		return elog_cli_error("raw: expected an even number of hex digits"), 2;
	n = strlen(argv[0]) / 2;
	elog_buf_reserve(&pr->out, n, NULL);
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(argv[0][2 * i]), lo = hexval(argv[0][2 * i + 1]);
		if (hi < 0 || lo < 0)
			return elog_cli_error("raw: bad hex"), 2;
		pr->out.data[i] = (uint8_t)(hi << 4 | lo);
	}
	pr->out.len = n;
	if (send_all(pr->fd, pr->out.data, n) < 0)
		return 1;
	shutdown(pr->fd, SHUT_WR);
	return print_frames(pr);
}

static int cmd_garbage(struct probe *pr, uint32_t n)
{
	uint32_t x = 2463534242u;

	elog_buf_reserve(&pr->out, n, NULL);
	for (uint32_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pr->out.data[i] = (uint8_t)x;
	}
	if (send_all(pr->fd, pr->out.data, n) < 0)
		return 1;
	return print_frames(pr);
}

static int cmd_oversize(struct probe *pr)
{
	uint8_t head[ELOG_FRAME_HEADER_SIZE];

	elog_put32(head, 1u << 31);
	elog_put16(head + 4, ELOG_API_PRODUCE);
	elog_put16(head + 6, ELOG_PROTO_VERSION);
	elog_put32(head + 8, 77);
	if (send_all(pr->fd, head, sizeof(head)) < 0)
		return 1;
	return print_frames(pr);
}

static int cmd_pipeline(struct probe *pr, uint32_t n)
{
	struct elog_frame_header h;
	uint32_t seen = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct elog_wire_w w;
		begin(pr, &w, ELOG_API_METADATA);
		elog_wire_put_u32(&w, 0);
		if (version_of(pr, ELOG_API_METADATA) >= 2)
			elog_wire_put_u8(&w, 0);
		if (end(&w) < 0)
			return 1;
	}
	if (send_all(pr->fd, pr->out.data, pr->out.len) < 0)
		return 1;
	while (seen < n && read_frame(pr, &h) == 1)
		seen++;
	printf("ok=%u\n", seen);
	return seen != n;
}

static void wait_stdin(void)
{
	char c;

	while (read(0, &c, 1) > 0)
		;
}

static int cmd_hold(struct probe *pr, uint32_t n)
{
	int *fds = calloc(n, sizeof(int));
	uint32_t held = 0;

	for (uint32_t i = 0; fds && i < n; i++) {
		fds[i] = connect_broker(pr->broker);
		if (fds[i] < 0)
			break;
		held++;
	}
	printf("held %u\n", held);
	fflush(stdout);
	wait_stdin();
	for (uint32_t i = 0; i < held; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

static int cmd_stall(struct probe *pr, int argc, char **argv)
{
	int buf = 4096;

	if (argc != 1)
		return elog_cli_error("stall: expected one topic"), 2;
	/* A small receive window, so the broker's side fills quickly. */
	setsockopt(pr->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	for (uint32_t i = 0; i < pr->batches; i++) {
		struct elog_wire_w w;
		begin(pr, &w, ELOG_API_FETCH);
		elog_wire_put_u32(&w, 0);
		elog_wire_put_u32(&w, 0);
		elog_wire_put_u32(&w, pr->max_bytes);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_cstring(&w, argv[0]);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_u32(&w, pr->partition);
		elog_wire_put_i64(&w, 0);
		elog_wire_put_u32(&w, pr->max_bytes);
		if (end(&w) < 0)
			return 1;
	}
	/* The broker stops reading at some point: send what it takes, never block. */
	{
		struct timeval tv = {2, 0};
		size_t sent = 0;
		setsockopt(pr->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		while (sent < pr->out.len) {
			ssize_t k = send(pr->fd, pr->out.data + sent, pr->out.len - sent, MSG_NOSIGNAL);
			if (k <= 0)
				break;
			sent += (size_t)k;
		}
		printf("stalled sent_bytes=%zu\n", sent);
	}
	fflush(stdout);
	wait_stdin();
	return 0;
}

/* ---------------------------------------------------------------- main */

enum { OPT_VERSION = 256, OPT_JOIN, OPT_BAD, OPT_PATCH, OPT_ADD32, OPT_APPEND, OPT_RAW_BATCH, OPT_KEEP_CRC, OPT_MEMBER };

static const struct elog_cli_option options[] = {
	{'b', "broker", "HOST:PORT", "broker address (default 127.0.0.1:7411)"},
	{'p', "partitions", "N", "create/alter: partition count"},
	{'C', "config", "KEY=VALUE", "create/alter: a topic config key"},
	{'P', "partition", "N", "partition (default 0)"},
	{'n', "records", "N", "produce: records per batch (default 1)"},
	{'k', "batches", "N", "produce: batches, one request each (default 1); stall: requests"},
	{'a', "acks", "N", "produce: 0, 1 or -1 (default 1)"},
	{'s', "first", "N", "produce: number of the first record (default 0)"},
	{'t', "timestamp", "MS", "produce: timestamp of record 0; offsets: the query"},
	{'I', "producer-id", "N", "produce: idempotent producer id"},
	{'E', "epoch", "N", "produce: producer epoch (default 0)"},
	{'S', "sequence", "N", "produce: first sequence (default 0)"},
	{'T', "timeout", "MS", "produce: acks=-1 timeout (default 30000)"},
	{'V', "value-bytes", "N", "produce: pad values to N bytes"},
	{'M', "metadata", "TEXT", "commit: the metadata of every offset"},
	{OPT_MEMBER, "member", "ID", "commit: as this member, with -E its epoch (default standalone)"},
	{'z', "compression", "CODEC", "produce: none, lz4 or zlib (default none)"},
	{OPT_JOIN, "join", NULL, "produce: every batch in one request"},
	{OPT_BAD, "bad", "N", "produce: the batch the tampering options change (default 0)"},
	{OPT_PATCH, "patch", "OFF:HEX", "produce: overwrite batch bytes at OFF"},
	{OPT_ADD32, "add32", "OFF:DELTA", "produce: add DELTA to the u32 at OFF"},
	{OPT_APPEND, "append", "HEX", "produce: bytes after the records, batch_length grown"},
	{OPT_RAW_BATCH, "raw-batch", "HEX", "produce: these bytes instead of the batch"},
	{OPT_KEEP_CRC, "keep-crc", NULL, "produce: leave the crc as it was after tampering"},
	{'o', "offset", "N", "fetch: offset (default 0)"},
	{'w', "max-wait", "MS", "fetch: long-poll wait (default 0)"},
	{'m', "min-bytes", "N", "fetch: min bytes (default 1)"},
	{'x', "max-bytes", "N", "fetch: max bytes (default 1 MiB)"},
	{'r', "records-print", NULL, "fetch: print every record"},
	{'A', "announce", NULL, "fetch: \"sent\" on stderr once the request is sent"},
	{'c', "create", NULL, "metadata: ask the broker to create missing topics"},
	{'R', "request-version", "N", "send requests in this version (default the newest)"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-b host:port] [options] command [args]",
	.summary = "Test client for elog-serve: one protocol request per run.",
	.options = options,
};

static int option(struct probe *pr, int id, const char *arg)
{
	struct elog_err err;
	uint64_t u = 0;
	int64_t i = 0;
	int rc = 0;

	if ((id < 256 && strchr("pPnkVwmxR", id)) || id == OPT_BAD)
		rc = elog_cli_parse_u64(arg, 0, UINT32_MAX, &u, &err);
	else if (id < 256 && strchr("astIESTo", id))
		rc = elog_cli_parse_i64(arg, INT64_MIN + 1, INT64_MAX, &i, &err);
	if (rc < 0)
		return elog_cli_usage_error(&program, "-%c: %s", id, err.msg);
	switch (id) {
	case 'b': pr->broker = arg; break;
	case 'p': pr->partitions = (uint32_t)u; break;
	case 'C':
		if (pr->config_count == CONFIGS_MAX)
			return elog_cli_usage_error(&program, "too many -C");
		pr->configs[pr->config_count++] = arg;
		break;
	case 'P': pr->partition = (uint32_t)u; break;
	case 'n': pr->records = (uint32_t)u; break;
	case 'k': pr->batches = (uint32_t)u; break;
	case 'a': pr->acks = (int8_t)i; break;
	case 's': pr->first = i; break;
	case 't': pr->timestamp = i; pr->have_timestamp = 1; break;
	case 'I': pr->producer_id = i; break;
	case 'E': pr->epoch = (int16_t)i; break;
	case 'S': pr->seq = (int32_t)i; break;
	case 'T': pr->timeout_ms = (uint32_t)i; break;
	case 'V': pr->value_bytes = (uint32_t)u; break;
	case 'M': pr->metadata = arg; break;
	case OPT_MEMBER: pr->member = arg; break;
	case 'o': pr->offset = i; break;
	case 'w': pr->max_wait_ms = (uint32_t)u; break;
	case 'm': pr->min_bytes = (uint32_t)u; break;
	case 'x': pr->max_bytes = (uint32_t)u; break;
	case 'r': pr->print_records = 1; break;
	case 'A': pr->announce = 1; break;
	case 'z':
		if ((i = elog_compression_parse(arg)) < 0)
			return elog_cli_usage_error(&program, "-z: expected none, lz4 or zlib");
		pr->compression = (enum elog_compression)i;
		break;
	case OPT_JOIN: pr->join = 1; break;
	case OPT_BAD: pr->bad_batch = (uint32_t)u; break;
	case OPT_KEEP_CRC: pr->keep_crc = 1; break;
	case OPT_APPEND: pr->append_hex = arg; break;
	case OPT_RAW_BATCH: pr->raw_hex = arg; break;
	case OPT_PATCH:
	case OPT_ADD32:
		if ((id == OPT_PATCH ? pr->patch_count : pr->add_count) == TAMPERS_MAX)
			return elog_cli_usage_error(&program, "too many --patch or --add32");
		if (id == OPT_PATCH)
			pr->patches[pr->patch_count++] = arg;
		else
			pr->adds[pr->add_count++] = arg;
		break;
	case 'c': pr->allow_auto_create = 1; break;
	case 'R': pr->request_version = (uint16_t)u; break;
	default: return ELOG_EXIT_USAGE;
	}
	return -1;
}

static void defaults(struct probe *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->broker = "127.0.0.1:7411";
	pr->records = pr->batches = pr->min_bytes = 1;
	pr->acks = 1;
	pr->max_bytes = 1u << 20;
	pr->timeout_ms = 30000;
	pr->producer_id = -1;
	elog_buf_init(&pr->out, FRAME_MAX);
	elog_buf_init(&pr->in, FRAME_MAX);
}

static int run(struct probe *pr, const char *cmd, int argc, char **argv)
{
	uint32_t n = argc > 0 ? (uint32_t)strtoul(argv[0], NULL, 10) : 0;

	if (strcmp(cmd, "hold") == 0)
		return cmd_hold(pr, n);
	pr->fd = connect_broker(pr->broker);
	if (pr->fd < 0)
		return 1;
	if (!pr->have_timestamp && strcmp(cmd, "produce") == 0)
		pr->timestamp = wall_ms();
	if (strcmp(cmd, "metadata") == 0) return cmd_metadata(pr, argc, argv);
	if (strcmp(cmd, "create") == 0) return cmd_create_alter(pr, 0, argc, argv);
	if (strcmp(cmd, "alter") == 0) return cmd_create_alter(pr, 1, argc, argv);
	if (strcmp(cmd, "delete") == 0) return cmd_delete(pr, argc, argv);
	if (strcmp(cmd, "describe") == 0) return cmd_describe(pr, argc, argv);
	if (strcmp(cmd, "init-producer") == 0) return cmd_init_producer(pr);
	if (strcmp(cmd, "produce") == 0) return cmd_produce(pr, argc, argv);
	if (strcmp(cmd, "fetch") == 0) return cmd_fetch(pr, argc, argv);
	if (strcmp(cmd, "dump") == 0) return cmd_dump(pr, argc, argv);
	if (strcmp(cmd, "offsets") == 0) return cmd_offsets(pr, argc, argv);
	if (strcmp(cmd, "coordinator") == 0) return cmd_coordinator(pr, argc, argv);
	if (strcmp(cmd, "commit") == 0) return cmd_commit(pr, argc, argv);
	if (strcmp(cmd, "committed") == 0) return cmd_committed(pr, argc, argv);
	if (strcmp(cmd, "heartbeat") == 0) return cmd_heartbeat(pr, argc, argv);
	if (strcmp(cmd, "joins") == 0) return cmd_joins(pr, argc, argv);
	if (strcmp(cmd, "raw") == 0) return cmd_raw(pr, argc, argv);
	if (strcmp(cmd, "garbage") == 0) return cmd_garbage(pr, n);
	if (strcmp(cmd, "oversize") == 0) return cmd_oversize(pr);
	if (strcmp(cmd, "pipeline") == 0) return cmd_pipeline(pr, n);
	if (strcmp(cmd, "stall") == 0) return cmd_stall(pr, argc, argv);
	return elog_cli_usage_error(&program, "unknown command \"%s\"", cmd);
}

int main(int argc, char **argv)
{
	struct elog_cli_getopt g;
	struct probe pr;
	int id, rc;

	elog_cli_init(argv[0]);
	defaults(&pr);
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		if (id == ELOG_CLI_DONE)
			return 0;
		if (id == ELOG_CLI_BAD || (rc = option(&pr, id, g.arg)) >= 0)
			return ELOG_EXIT_USAGE;
	}
	if (g.index >= argc)
		return elog_cli_usage_error(&program, "missing command");
	rc = run(&pr, argv[g.index], argc - g.index - 1, argv + g.index + 1);
	fflush(stdout);
	if (pr.fd > 0)
		close(pr.fd);
	elog_buf_release(&pr.out);
	elog_buf_release(&pr.in);
	return rc;
}
