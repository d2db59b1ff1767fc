/*
 * elog-hostile — test-only misbehaving clients for the broker's bounds
 * tests (tests/022-serve-bounds.bats), and the well-behaved client whose
 * round trip they must not spoil.
 *
 *   elog-hostile -b HOST:PORT COMMAND [ARGS]
 *
 * Attacks (run until SIGTERM or SIGINT; "ready ..." on stdout once every
 * connection is open and has sent what the broker took; at exit a line
 * "closed=K reconnects=K" counts the connections the broker closed):
 *
 *   partial N BYTES          N connections, each sends a PRODUCE frame that
 *                            claims BYTES and all of it but the last byte
 *   unread N TOPIC BYTES K   N connections, each pipelines K FETCHes of
 *                            TOPIC partition 0 from offset 0 with max_bytes
 *                            BYTES and never reads an answer
 *   trickle N BYTES          N connections, each sends a PRODUCE frame that
 *                            claims BYTES, one byte per second
 *   idle N                   N connections that send nothing
 *   longpoll N TOPIC OFFSET  N connections, each with one FETCH of TOPIC
 *                            partition 0 at OFFSET waiting (max_wait 300 s)
 *   With -R closed connections are opened again (after 100 ms), so the
 *   pressure stays while the broker closes them.
 *
 * One-shot requests (exit 0 when answered):
 *
 *   dupfetch TOPIC COUNT     one FETCH naming TOPIC partition 0 COUNT times
 *   fetchall TOPIC PARTS PART_MAX MAX
 *                            one FETCH of partitions 0..PARTS-1 from offset 0
 *                            with those max_bytes; prints the frame's size
 *   dupproduce TOPIC COUNT   one PRODUCE of a one-record batch to TOPIC
 *                            partition 0, naming the partition COUNT times
 *   bigproduce N TOPIC BYTES N connections at once each PRODUCE one batch
 *                            of about BYTES to TOPIC partition 0 (acks=1);
 *                            "ok=K" when all are answered without error
 *   roundtrip TOPIC COUNT [PAUSE_MS]
 *                            the well-behaved client, through libcore's
 *                            client (elog_producer, elog_fetcher): COUNT
 *                            times produce one record (acks=1) and wait for
 *                            the following fetcher to hand it out, PAUSE_MS
 *                            apart (default 0); prints every round trip in
 *                            µs and then
 *                            "roundtrips=N min_us= p50_us= p90_us= p99_us= max_us="
 *
 * Exit 0 on success, 1 on a connection or protocol failure, 2 on a bad
 * command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "buf.h"
#include "bytes.h"
#include "cli.h"
#include "client.h"
#include "proto.h"

#define AGENTS_MAX 100000
#define FRAME_MAX (256u << 20)
#define ZEROS_BYTES (64u << 10)

static volatile sig_atomic_t stop_requested;
static const char *broker = "127.0.0.1:7411";
static int reconnect;
static struct sockaddr_storage broker_addr;
static socklen_t broker_addr_len;
static uint8_t zeros[ZEROS_BYTES];

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Enough file descriptors for n connections (root may raise the hard limit). */
static void want_fds(uint32_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur >= n + 64)
		return;
	rl.rlim_cur = n + 64;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int resolve_broker(void)
{
	char host[256];
	const char *colon = strrchr(broker, ':');
	struct addrinfo hints = {0}, *res;

	if (!colon || (size_t)(colon - broker) >= sizeof(host))
		return elog_cli_error("bad broker address \"%s\"", broker), -1;
	memcpy(host, broker, (size_t)(colon - broker));
	host[colon - broker] = 0;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return elog_cli_error("cannot resolve %s", broker), -1;
	memcpy(&broker_addr, res->ai_addr, res->ai_addrlen);
	broker_addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* A blocking connection (one-shot commands), or a non-blocking one. */
static int dial(int nonblocking)
{
	int fd = socket(broker_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&broker_addr, broker_addr_len) < 0) {
		close(fd);
		return -1;
	}
	if (nonblocking)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(fd, p + got, n - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* One frame into buf (header included). */
static int read_frame(int fd, struct elog_buf *buf, struct elog_frame_header *h)
{
	uint8_t head[ELOG_FRAME_HEADER_SIZE];
	struct elog_err err;

	if (recv_all(fd, head, sizeof(head)) < 0 ||
	    elog_frame_header_decode(head, sizeof(head), FRAME_MAX, h, &err) < 0)
		return -1;
	elog_buf_reset(buf);
	if (elog_buf_reserve(buf, h->length + ELOG_FRAME_PREFIX_SIZE, NULL) < 0)
		return -1;
	memcpy(buf->data, head, sizeof(head));
	if (recv_all(fd, buf->data + sizeof(head), h->length - 8) < 0)
		return -1;
	buf->len = h->length + ELOG_FRAME_PREFIX_SIZE;
	return 0;
}

/* ---------------------------------------------------------------- attacks */

struct agent {
	int fd;
	uint8_t *head;           /* bytes to send first */
	size_t head_len;
	uint64_t zero_len;       /* then this many zero bytes */
	uint64_t sent;
	int64_t next_us;         /* paced: the next byte's time; reconnect: when */
	int blocked;             /* a send met a full socket, or everything is sent */
	int reads;               /* reads (and discards) answers */
};

struct attack {
	struct agent *agents;
	uint32_t n;
	int64_t pace_us;         /* 0: as fast as the broker takes */
	uint64_t closed, reconnects;
	int ready;
};

static uint64_t agent_total(const struct agent *a)
{
	return a->head_len + a->zero_len;
}

static void agent_open(struct agent *a, int small_window)
{
	int rcv = 4096;

	a->fd = dial(1);
	a->sent = 0;
	a->blocked = 0;
	a->next_us = now_us();
	if (a->fd >= 0 && small_window)
		setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
}

/* Send what the pace and the socket allow. */
static void agent_send(struct attack *at, struct agent *a)
{
	/* Bounded: every pass sends bytes or leaves. */
	while (a->fd >= 0 && a->sent < agent_total(a)) {
		const uint8_t *p;
		size_t n;
		ssize_t k;
		if (a->sent < a->head_len) {
			p = a->head + a->sent;
			n = a->head_len - a->sent;
		} else {
			uint64_t left = agent_total(a) - a->sent;
			p = zeros;
			n = left < ZEROS_BYTES ? (size_t)left : ZEROS_BYTES;
		}
		if (at->pace_us) {
			if (now_us() < a->next_us)
				return;
			n = 1;
			a->next_us += at->pace_us;
		}
		k = send(a->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			a->blocked = 1;
			return;
		}
		if (k <= 0) {
			close(a->fd);
			a->fd = -1;
			at->closed++;
			a->next_us = now_us() + 100000;
			return;
		}
		a->sent += (uint64_t)k;
		if (at->pace_us)
			a->blocked = 1;
	}
	if (a->fd >= 0 && a->sent == agent_total(a))
		a->blocked = 1;
}

/* The broker closed it (or answered, for agents that read). */
static void agent_input(struct attack *at, struct agent *a, short revents)
{
	char buf[4096];
	int gone = (revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0;

	if (a->reads && (revents & POLLIN)) {
		ssize_t k = recv(a->fd, buf, sizeof(buf), 0);
		gone = k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR);
	}
	if (!gone)
		return;
	close(a->fd);
	a->fd = -1;
	at->closed++;
	a->next_us = now_us() + 100000;
}

/* Every connection was opened and sent what the broker takes (those the
 * broker closed since count as done). */
static int attack_ready(const struct attack *at)
{
	for (uint32_t i = 0; i < at->n; i++)
		if (at->agents[i].fd >= 0 && !at->agents[i].blocked && agent_total(&at->agents[i]))
			return 0;
	return 1;
}

static int run_attack(struct attack *at, const char *what, int small_window)
{
	struct pollfd *pfd = calloc(at->n, sizeof(*pfd));

	if (!pfd)
		return elog_cli_error("out of memory"), 1;
	for (uint32_t i = 0; i < at->n; i++) {
		agent_open(&at->agents[i], small_window);
		if (at->agents[i].fd < 0)
			return elog_cli_error_errno(errno, "connection %u to %s", i, broker), 1;
	}
	while (!stop_requested) {
		int64_t now = now_us();
		for (uint32_t i = 0; i < at->n; i++) {
			struct agent *a = &at->agents[i];
			if (a->fd < 0 && reconnect && now >= a->next_us) {
				agent_open(a, small_window);
				at->reconnects++;
			}
			agent_send(at, a);
			pfd[i].fd = a->fd;
			pfd[i].events = POLLRDHUP | (a->reads ? POLLIN : 0) |
					(a->sent < agent_total(a) && !at->pace_us ? POLLOUT : 0);
			pfd[i].revents = 0;
		}
		if (!at->ready && attack_ready(at)) {
			printf("ready %s connections=%u\n", what, at->n);
			fflush(stdout);
			at->ready = 1;
		}
		if (poll(pfd, at->n, 50) < 0 && errno != EINTR)
			break;
		for (uint32_t i = 0; i < at->n; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents)
				agent_input(at, &at->agents[i], pfd[i].revents);
	}
	printf("closed=%" PRIu64 " reconnects=%" PRIu64 "\n", at->closed, at->reconnects);
	free(pfd);
	return 0;
}

/* A PRODUCE frame header claiming `bytes` in all. */
static uint8_t *produce_header(uint64_t bytes, size_t *len)
{
	uint8_t *h = malloc(ELOG_FRAME_HEADER_SIZE);

	if (!h)
		return NULL;
	elog_put32(h, (uint32_t)(bytes - ELOG_FRAME_PREFIX_SIZE));
	elog_put16(h + 4, ELOG_API_PRODUCE);
	elog_put16(h + 6, ELOG_PROTO_VERSION);
	elog_put32(h + 8, 1);
	*len = ELOG_FRAME_HEADER_SIZE;
	return h;
}

static void put_fetch(struct elog_wire_w *w, uint32_t cid, uint32_t max_wait_ms, const char *topic,
		      uint32_t parts, uint32_t same_part, int64_t offset, uint32_t part_max,
		      uint32_t max)
{
	elog_wire_frame_begin(w, ELOG_API_FETCH, cid);
	elog_wire_put_u32(w, max_wait_ms);
	elog_wire_put_u32(w, 1);
	elog_wire_put_u32(w, max);
	elog_wire_put_u32(w, 1);
	elog_wire_put_cstring(w, topic);
	elog_wire_put_u32(w, parts);
	for (uint32_t i = 0; i < parts; i++) {
		elog_wire_put_u32(w, same_part ? 0 : i);
		elog_wire_put_i64(w, offset);
		elog_wire_put_u32(w, part_max);
	}
}

/* FETCH frames for each agent's head. */
static int fetch_heads(struct attack *at, const char *topic, uint32_t k, uint32_t max_wait_ms,
		       int64_t offset, uint32_t max)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_err err;

	elog_buf_init(&b, FRAME_MAX);
	elog_wire_w_init(&w, &b);
	for (uint32_t i = 0; i < k; i++) {
		put_fetch(&w, i + 1, max_wait_ms, topic, 1, 0, offset, max, max);
		if (elog_wire_frame_end(&w, &err) < 0)
			return elog_cli_error_err(&err, "fetch"), -1;
	}
	for (uint32_t i = 0; i < at->n; i++) {
		at->agents[i].head = malloc(b.len);
		if (!at->agents[i].head)
			return elog_cli_error("out of memory"), -1;
		memcpy(at->agents[i].head, b.data, b.len);
		at->agents[i].head_len = b.len;
	}
	elog_buf_release(&b);
	return 0;
}

static int cmd_attack(const char *cmd, int argc, char **argv)
{
	struct attack at = {0};
	uint64_t bytes = 0, n, k = 1;
	int64_t offset = 0;
	struct elog_err err;
	int small_window = 0, rc;

	if (argc < 1 || elog_cli_parse_u64(argv[0], 1, AGENTS_MAX, &n, &err) < 0)
		return elog_cli_error("%s: expected a connection count", cmd), 2;
	at.n = (uint32_t)n;
	at.agents = calloc(at.n, sizeof(*at.agents));
	if (!at.agents)
		return elog_cli_error("out of memory"), 1;
	want_fds(at.n);
	if ((strcmp(cmd, "partial") == 0 || strcmp(cmd, "trickle") == 0) &&
	    (argc != 2 || elog_cli_parse_size(argv[1], &bytes, &err) < 0 || bytes < 16 ||
	     bytes > UINT32_MAX))
		return elog_cli_error("%s: expected N BYTES", cmd), 2;
	if (strcmp(cmd, "partial") == 0 || strcmp(cmd, "trickle") == 0) {
		for (uint32_t i = 0; i < at.n; i++) {
			at.agents[i].head = produce_header(bytes, &at.agents[i].head_len);
			at.agents[i].zero_len = bytes - ELOG_FRAME_HEADER_SIZE - 1;
			at.agents[i].reads = 1;
		}
		if (strcmp(cmd, "trickle") == 0)
			at.pace_us = 1000000;
	} else if (strcmp(cmd, "unread") == 0) {
		if (argc != 4 || elog_cli_parse_size(argv[2], &bytes, &err) < 0 ||
		    bytes > UINT32_MAX || elog_cli_parse_u64(argv[3], 1, 100000, &k, &err) < 0)
			return elog_cli_error("unread: expected N TOPIC BYTES K"), 2;
		if (fetch_heads(&at, argv[1], (uint32_t)k, 0, 0, (uint32_t)bytes) < 0)
			return 1;
		small_window = 1;
	} else if (strcmp(cmd, "longpoll") == 0) {
		if (argc != 3 || elog_cli_parse_i64(argv[2], 0, INT64_MAX, &offset, &err) < 0)
			return elog_cli_error("longpoll: expected N TOPIC OFFSET"), 2;
		if (fetch_heads(&at, argv[1], 1, 300000, offset, 1u << 20) < 0)
			return 1;
		for (uint32_t i = 0; i < at.n; i++)
			at.agents[i].reads = 1;
	} else if (strcmp(cmd, "idle") == 0) {
		if (argc != 1)
			return elog_cli_error("idle: expected N"), 2;
		for (uint32_t i = 0; i < at.n; i++)
			at.agents[i].reads = 1;
	}
	rc = run_attack(&at, cmd, small_window);
	for (uint32_t i = 0; i < at.n; i++) {
		if (at.agents[i].fd >= 0)
			close(at.agents[i].fd);
		free(at.agents[i].head);
	}
	free(at.agents);
	return rc;
}

/* ---------------------------------------------------------------- one-shot */

/* Print a FETCH answer: its size, error and what each partition holds. */
static int print_fetch_answer(int fd, int64_t t0, int per_partition)
{
	struct elog_buf in;
	struct elog_frame_header h;
	struct elog_wire_r r;
	const char *msg;
	size_t msg_len;
	uint64_t with_data = 0, bytes = 0;
	int code, rc = 0;

	elog_buf_init(&in, FRAME_MAX + 16);
	if (read_frame(fd, &in, &h) < 0) {
		elog_buf_release(&in);
		return elog_cli_error("no answer: the broker closed the connection"), 1;
	}
	elog_wire_r_init(&r, in.data + ELOG_FRAME_HEADER_SIZE, in.len - ELOG_FRAME_HEADER_SIZE);
	code = elog_wire_get_response_error(&r, &msg, &msg_len);
	printf("frame_bytes=%u error=%s", h.length, elog_proto_error_name(code));
	if (code == 0) {
		uint32_t topics = elog_wire_get_count(&r, 6);
		for (uint32_t i = 0; i < topics; i++) {
			const char *s;
			size_t len;
			uint32_t parts;
			elog_wire_get_string(&r, &s, &len);
			parts = elog_wire_get_count(&r, 28);
			for (uint32_t k = 0; k < parts; k++) {
				const uint8_t *data;
				uint32_t id = elog_wire_get_u32(&r);
				int16_t e = elog_wire_get_i16(&r);
				elog_wire_get_string(&r, &s, &len);
				elog_wire_get_i64(&r);
				elog_wire_get_i64(&r);
				elog_wire_get_bytes(&r, &data, &msg_len);
				with_data += msg_len > 0;
				bytes += msg_len;
				if (per_partition)
					printf("\npartition=%u error=%s bytes=%zu", id,
					       elog_proto_error_name(e), msg_len);
			}
		}
		if (elog_wire_r_end(&r, NULL) < 0)
			rc = 1;
		printf("%sbatch_bytes=%" PRIu64 " partitions_with_data=%" PRIu64,
		       per_partition ? "\n" : " ", bytes, with_data);
	} else {
		printf(" message=\"%.*s\"", (int)msg_len, msg);
	}
	printf(" elapsed_ms=%" PRId64 "\n", (now_us() - t0) / 1000);
	elog_buf_release(&in);
	return rc;
}

static int one_fetch(const char *topic, uint32_t parts, int same_part, uint32_t part_max,
		     uint32_t max)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_err err;
	int64_t t0;
	int fd = dial(0), rc = 1;

	if (fd < 0)
		return elog_cli_error_errno(errno, "cannot connect to %s", broker), 1;
	elog_buf_init(&b, FRAME_MAX);
	elog_wire_w_init(&w, &b);
	put_fetch(&w, 1, 0, topic, parts, same_part, 0, part_max, max);
	if (elog_wire_frame_end(&w, &err) < 0) {
		elog_cli_error_err(&err, "fetch");
		goto out;
	}
	t0 = now_us();
	if (send_all(fd, b.data, b.len) < 0) {
		elog_cli_error_errno(errno, "send");
		goto out;
	}
	printf("request_bytes=%zu\n", b.len);
	rc = print_fetch_answer(fd, t0, !same_part);
out:
	elog_buf_release(&b);
	close(fd);
	return rc;
}

static int cmd_dupfetch(int argc, char **argv)
{
	uint64_t n;
	struct elog_err err;

	if (argc != 2 || elog_cli_parse_u64(argv[1], 1, 50000000, &n, &err) < 0)
		return elog_cli_error("dupfetch: expected TOPIC COUNT"), 2;
	return one_fetch(argv[0], (uint32_t)n, 1, 1u << 20, 64u << 20);
}

static int cmd_fetchall(int argc, char **argv)
{
	uint64_t parts, part_max, max;
	struct elog_err err;

	if (argc != 4 || elog_cli_parse_u64(argv[1], 1, 1000000, &parts, &err) < 0 ||
	    elog_cli_parse_size(argv[2], &part_max, &err) < 0 || part_max > UINT32_MAX ||
	    elog_cli_parse_size(argv[3], &max, &err) < 0 || max > UINT32_MAX)
		return elog_cli_error("fetchall: expected TOPIC PARTS PART_MAX MAX"), 2;
	return one_fetch(argv[0], (uint32_t)parts, 0, (uint32_t)part_max, (uint32_t)max);
}

/* One PRODUCE frame naming partition 0 `entries` times, each with one
 * batch of about `bytes` (records of up to 64 KiB). */
static int produce_frame(struct elog_buf *out, const char *topic, uint64_t bytes, uint32_t entries,
			 uint32_t cid)
{
	static uint8_t value[64u << 10];
	struct elog_batch_builder bb;
	struct elog_wire_w w;
	struct elog_err err;
	const uint8_t *batch;
	size_t len;
	int rc = 0;

	elog_batch_builder_init(&bb, ELOG_COMPRESS_NONE, ELOG_BATCH_SIZE_MAX);
	for (uint64_t done = 0; done < bytes && rc == 0; done += sizeof(value)) {
		struct elog_record rec = {.value = value, .key_len = -1};
		rec.value_len = bytes - done < sizeof(value) ? (int32_t)(bytes - done) : (int32_t)sizeof(value);
		rc = elog_batch_builder_add(&bb, &rec, &err);
	}
	if (rc == 0)
		rc = elog_batch_builder_finish(&bb, &batch, &len, &err);
	if (rc == 0) {
		elog_wire_w_init(&w, out);
		elog_wire_frame_begin(&w, ELOG_API_PRODUCE, cid);
		elog_wire_put_i8(&w, 1);
		elog_wire_put_u32(&w, 30000);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_cstring(&w, topic);
		elog_wire_put_u32(&w, entries);
		for (uint32_t i = 0; i < entries; i++) {
			elog_wire_put_u32(&w, 0);
			elog_wire_put_bytes(&w, batch, len);
		}
		rc = elog_wire_frame_end(&w, &err);
	}
	if (rc < 0)
		elog_cli_error_err(&err, "batch");
	elog_batch_builder_release(&bb);
	return rc;
}

/* The error code of a PRODUCE answer's first partition. */
static int produce_error(const struct elog_buf *in)
{
	struct elog_wire_r r;
	const char *s;
	size_t len;
	int code;

	elog_wire_r_init(&r, in->data + ELOG_FRAME_HEADER_SIZE, in->len - ELOG_FRAME_HEADER_SIZE);
	code = elog_wire_get_response_error(&r, &s, &len);
	if (code)
		return code;
	elog_wire_get_count(&r, 6);
	elog_wire_get_string(&r, &s, &len);
	elog_wire_get_count(&r, 24);
	elog_wire_get_u32(&r);
	return elog_wire_get_i16(&r);
}

/* Everything sent on every connection at once (non-blocking), then the answers. */
static int cmd_bigproduce(int argc, char **argv)
{
	uint64_t n, bytes;
	struct elog_err err;
	struct elog_buf frame, in;
	struct elog_frame_header h;
	int *fds = NULL;
	size_t *sent = NULL;
	uint32_t ok = 0, left, opened = 0;
	int rc = 1;

	if (argc != 3 || elog_cli_parse_u64(argv[0], 1, 1000, &n, &err) < 0 ||
	    elog_cli_parse_size(argv[2], &bytes, &err) < 0 || bytes > (60u << 20))
		return elog_cli_error("bigproduce: expected N TOPIC BYTES"), 2;
	elog_buf_init(&frame, FRAME_MAX);
	elog_buf_init(&in, FRAME_MAX);
	fds = calloc(n, sizeof(*fds));
	sent = calloc(n, sizeof(*sent));
	if (!fds || !sent || produce_frame(&frame, argv[1], bytes, 1, 1) < 0)
		goto out;
	for (; opened < n; opened++)
		if ((fds[opened] = dial(1)) < 0) {
			elog_cli_error_errno(errno, "cannot connect to %s", broker);
			goto out;
		}
	/* Bounded: every round sends on some connection, or gives up after 60 s. */
	for (int64_t deadline = now_us() + 60000000; now_us() < deadline;) {
		left = 0;
		for (uint32_t i = 0; i < n; i++) {
			ssize_t k;
			if (sent[i] == frame.len)
				continue;
			k = send(fds[i], frame.data + sent[i], frame.len - sent[i], MSG_NOSIGNAL);
			if (k > 0)
				sent[i] += (size_t)k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR) {
				elog_cli_error_errno(errno, "send");
				goto out;
			}
			left += sent[i] < frame.len;
		}
		if (left == 0)
			break;
		usleep(1000);
	}
	rc = 0;
	for (uint32_t i = 0; i < n; i++) {
		int code;
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) & ~O_NONBLOCK);
		if (sent[i] < frame.len || read_frame(fds[i], &in, &h) < 0) {
			rc = 1;
			continue;
		}
		code = produce_error(&in);
		ok += code == 0;
		if (code)
			printf("error=%s\n", elog_proto_error_name(code));
	}
	printf("ok=%u of %" PRIu64 "\n", ok, n);
	rc = rc || ok != n;
out:
	for (uint32_t i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	free(sent);
	elog_buf_release(&frame);
	elog_buf_release(&in);
	return rc;
}

static int cmd_dupproduce(int argc, char **argv)
{
	struct elog_buf frame, in;
	struct elog_frame_header h;
	struct elog_wire_r r;
	struct elog_err err;
	const char *msg;
	size_t len;
	uint64_t n;
	int fd, code;

	if (argc != 2 || elog_cli_parse_u64(argv[1], 1, 1000000, &n, &err) < 0)
		return elog_cli_error("dupproduce: expected TOPIC COUNT"), 2;
	elog_buf_init(&frame, FRAME_MAX);
	elog_buf_init(&in, FRAME_MAX);
	fd = produce_frame(&frame, argv[0], 10, (uint32_t)n, 1) < 0 ? -1 : dial(0);
	if (fd < 0 || send_all(fd, frame.data, frame.len) < 0 || read_frame(fd, &in, &h) < 0) {
		elog_cli_error_errno(errno, "produce to %s", broker);
		code = -1;
	} else {
		elog_wire_r_init(&r, in.data + ELOG_FRAME_HEADER_SIZE, in.len - ELOG_FRAME_HEADER_SIZE);
		code = elog_wire_get_response_error(&r, &msg, &len);
		printf("error=%s message=\"%.*s\"\n", elog_proto_error_name(code), (int)len, msg);
	}
	if (fd >= 0)
		close(fd);
	elog_buf_release(&frame);
	elog_buf_release(&in);
	return code < 0;
}

/* ---------------------------------------------------------------- round trip */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Wait for the record "rt-<i>" to come out of the fetcher. */
static int await_record(struct elog_fetcher *f, uint64_t i, struct elog_err *err)
{
	char want[32];
	int len = snprintf(want, sizeof(want), "rt-%" PRIu64, i);

	/* Bounded: each call waits at most 10 s; a record other than ours is skipped. */
	for (;;) {
		struct elog_fetched got;
		int rc = elog_fetcher_next(f, &got, 10000, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return elog_err_set(err, ELOG_E_IO, "record %" PRIu64 " did not come back in 10 s", i);
		if (got.record->value_len == len && memcmp(got.record->value, want, (size_t)len) == 0)
			return 0;
	}
}

static int roundtrips(struct elog_producer *p, struct elog_fetcher *f, uint64_t count,
		      uint64_t pause_ms, int64_t *us, struct elog_err *err)
{
	for (uint64_t i = 0; i < count; i++) {
		if (i > 0 && pause_ms > 0)
			usleep((useconds_t)(pause_ms * 1000));
		char value[32];
		struct elog_record rec = {.key_len = -1, .value = (const uint8_t *)value};
		int64_t t0 = now_us();
		rec.value_len = snprintf(value, sizeof(value), "rt-%" PRIu64, i);
		rec.timestamp_ms = ELOG_TIMESTAMP_NOW;
		if (elog_producer_send(p, &rec, 0, i, err) < 0 ||
		    elog_producer_flush(p, 10000, err) < 0 || await_record(f, i, err) < 0)
			return -1;
		us[i] = now_us() - t0;
		printf("roundtrip_us=%" PRId64 "\n", us[i]);
	}
	return 0;
}

static int cmd_roundtrip(int argc, char **argv)
{
	struct elog_client_config cc;
	struct elog_producer_config pc;
	struct elog_fetcher_config fc;
	struct elog_pos latest = {ELOG_POS_LATEST, 0};
	struct elog_client *c = NULL;
	struct elog_producer *p = NULL;
	struct elog_fetcher *f = NULL;
	struct elog_err err;
	uint64_t count, pause_ms = 0;
	int64_t *us = NULL;
	int rc = 1;

	if ((argc != 2 && argc != 3) || elog_cli_parse_u64(argv[1], 1, 100000, &count, &err) < 0 ||
	    (argc == 3 && elog_cli_parse_u64(argv[2], 0, 10000, &pause_ms, &err) < 0))
		return elog_cli_error("roundtrip: expected TOPIC COUNT [PAUSE_MS]"), 2;
	elog_client_config_init(&cc);
	cc.brokers = broker;
	elog_producer_config_init(&pc);
	pc.acks = 1;
	pc.linger_ms = 0;
	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 5000;
	us = calloc(count, sizeof(*us));
	if (!us || !(c = elog_client_new(&cc, &err)) || !(p = elog_producer_new(c, argv[0], &pc, &err)) ||
	    !(f = elog_fetcher_new(c, &fc, &err)) ||
	    elog_fetcher_add(f, argv[0], 0, &latest, NULL, &err) < 0 ||
	    roundtrips(p, f, count, pause_ms, us, &err) < 0) {
		elog_cli_error_err(&err, "roundtrip");
		goto out;
	}
	qsort(us, count, sizeof(*us), cmp_i64);
	printf("roundtrips=%" PRIu64 " min_us=%" PRId64 " p50_us=%" PRId64 " p90_us=%" PRId64
	       " p99_us=%" PRId64 " max_us=%" PRId64 "\n",
	       count, us[0], us[count / 2], us[count * 9 / 10], us[count * 99 / 100], us[count - 1]);
	rc = 0;
out:
	elog_fetcher_free(f);
	elog_producer_free(p);
	elog_client_free(c);
	free(us);
	return rc;
}

/* ---------------------------------------------------------------- main */

enum { OPT_VERSION = 256 };

static const struct elog_cli_option options[] = {
	{'b', "broker", "HOST:PORT", "broker address (default 127.0.0.1:7411)"},
	{'R', "reconnect", NULL, "attacks: open closed connections again"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-R] [-b host:port] command [args]",
	.summary = "Misbehaving clients, and a well-behaved one, for elog-serve's bounds tests.",
	.options = options,
};

static int run(const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "roundtrip") == 0)
		return cmd_roundtrip(argc, argv);
	if (resolve_broker() < 0)
		return 1;
	if (strcmp(cmd, "partial") == 0 || strcmp(cmd, "unread") == 0 || strcmp(cmd, "trickle") == 0 ||
	    strcmp(cmd, "idle") == 0 || strcmp(cmd, "longpoll") == 0)
		return cmd_attack(cmd, argc, argv);
	if (strcmp(cmd, "dupfetch") == 0)
		return cmd_dupfetch(argc, argv);
	if (strcmp(cmd, "fetchall") == 0)
		return cmd_fetchall(argc, argv);
	if (strcmp(cmd, "bigproduce") == 0)
		return cmd_bigproduce(argc, argv);
	if (strcmp(cmd, "dupproduce") == 0)
		return cmd_dupproduce(argc, argv);
	return elog_cli_usage_error(&program, "unknown command \"%s\"", cmd);
}

int main(int argc, char **argv)
{
	struct elog_cli_getopt g;
	struct sigaction sa = {0};
	int id;

	elog_cli_init(argv[0]);
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		if (id == ELOG_CLI_DONE)
			return 0;
		if (id == 'b')
			broker = g.arg;
		else if (id == 'R')
			reconnect = 1;
		else
			return ELOG_EXIT_USAGE;
	}
	if (g.index >= argc)
		return elog_cli_usage_error(&program, "missing command");
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return run(argv[g.index], argc - g.index - 1, argv + g.index + 1);
}
