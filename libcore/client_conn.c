/* client_conn — broker lists, clock, backoff and one pipelined connection; see client.h. */
#include "client.h"
#include "client_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"

#define CONN_READ_CHUNK (64u << 10)
#define CONN_IN_FLIGHT_HARD_MAX 1024

/* ------------------------------------------------------------ helpers */

int64_t elog_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t elog_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t elog_client_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t elog_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms, uint32_t rnd)
{
	uint64_t ms = base_ms ? base_ms : 1;

	if (max_ms < ms)
		max_ms = (uint32_t)ms;
	for (uint32_t i = 0; i < attempt && ms < max_ms; i++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	/* Jitter: scale into [0.8, 1.2) so that many clients do not retry in step. */
	ms = ms * (800 + (uint64_t)(rnd % 400)) / 1000;
	if (ms > max_ms)
		ms = max_ms;
	return (uint32_t)(ms ? ms : 1);
}

int64_t elog_client_stall_check_at(int64_t oldest_ms, int64_t stall_ms, int64_t metadata_at_ms,
				   int64_t backoff_max_ms)
{
	int64_t every = stall_ms > backoff_max_ms ? stall_ms : backoff_max_ms;

	if (oldest_ms == INT64_MAX)
		return INT64_MAX;
	oldest_ms += stall_ms;
	return oldest_ms > metadata_at_ms + every ? oldest_ms : metadata_at_ms + every;
}

uint32_t elog_client_random(void)
{
	static uint64_t state;

	if (!state) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
			0x9e3779b97f4a7c15ull;
	}
	/* xorshift64* */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545f4914f6cdd1dull) >> 32);
}

void elog_client_strerror(char *out, size_t cap, int errnum)
{
	snprintf(out, cap, "%s", strerror(errnum));
	/* Diagnostics are lowercase: "connection refused". */
	if (out[0] && isupper((unsigned char)out[0]) && !(out[1] && isupper((unsigned char)out[1])))
		out[0] = (char)tolower((unsigned char)out[0]);
}

int elog_client_err_errno(struct elog_err *err, enum elog_errcode code, int errnum,
			  const char *fmt, ...)
{
	char what[ELOG_ERR_MSG_MAX], why[128];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	elog_client_strerror(why, sizeof(why), errnum);
	return elog_err_set(err, code, "%s: %s", what, why);
}

/* ------------------------------------------------------------ brokers */

static int broker_entry_parse(const char *s, size_t len, struct elog_broker_addr *a,
			      struct elog_err *err)
{
	const char *host = s, *port = NULL;
	size_t host_len = len, port_len = 0;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": missing ']'",
					    (int)len, s);
		host = s + 1;
		host_len = (size_t)(close - host);
		if ((size_t)(close + 1 - s) < len) {
			if (close[1] != ':')
				return elog_err_set(err, ELOG_E_INVAL,
						    "invalid broker \"%.*s\": expected ':' after ']'",
						    (int)len, s);
			port = close + 2;
			port_len = len - (size_t)(port - s);
		}
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon) {
			if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
				return elog_err_set(err, ELOG_E_INVAL,
						    "invalid broker \"%.*s\": write IPv6 addresses as [addr]:port",
						    (int)len, s);
			host_len = (size_t)(colon - s);
			port = colon + 1;
			port_len = len - host_len - 1;
		}
	}
	if (host_len == 0)
		return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": empty host", (int)len, s);
	if (host_len > ELOG_HOST_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": host longer than %d bytes",
				    (int)(len > 64 ? 64 : len), s, ELOG_HOST_MAX);
	for (size_t i = 0; i < host_len; i++)
		if (isspace((unsigned char)host[i]) || host[i] == '/' || host[i] == ',' || !isprint((unsigned char)host[i]))
			return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": bad character in host",
					    (int)len, s);
	memcpy(a->host, host, host_len);
	a->host[host_len] = '\0';
	a->port = ELOG_PORT_DEFAULT;
	if (port) {
		uint32_t v = 0;
		if (port_len == 0 || port_len > 5)
			return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": bad port", (int)len, s);
		for (size_t i = 0; i < port_len; i++) {
			if (port[i] < '0' || port[i] > '9')
				return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": bad port",
						    (int)len, s);
			v = v * 10 + (uint32_t)(port[i] - '0');
		}
		if (v == 0 || v > 65535)
			return elog_err_set(err, ELOG_E_INVAL, "invalid broker \"%.*s\": port out of range",
					    (int)len, s);
		a->port = (uint16_t)v;
	}
	return 0;
}

int elog_brokers_parse(const char *list, struct elog_broker_addr *out, size_t max, size_t *n,
		       struct elog_err *err)
{
	const char *p = list;
	size_t count = 0;

	*n = 0;
	if (!list)
		return elog_err_set(err, ELOG_E_INVAL, "empty broker list");
	for (;;) {
		const char *end = strchr(p, ','), *a, *b;
		if (!end)
			end = p + strlen(p);
		a = p;
		b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (a == b) {
			if (*end == '\0' && count > 0 && end != list)
				break; /* a trailing comma is harmless */
			return elog_err_set(err, ELOG_E_INVAL, "invalid broker list \"%s\": empty entry", list);
		}
		if (count == max)
			return elog_err_set(err, ELOG_E_INVAL, "too many brokers in the list (at most %zu)", max);
		if (broker_entry_parse(a, (size_t)(b - a), &out[count], err) < 0)
			return -1;
		count++;
		if (*end == '\0')
			break;
		p = end + 1;
	}
	*n = count;
	return 0;
}

const char *elog_brokers_choose(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = getenv(ELOG_BROKERS_ENV);
	if (env && *env)
		return env;
	return ELOG_BROKERS_DEFAULT;
}

void elog_broker_addr_format(const struct elog_broker_addr *a, char *out, size_t cap)
{
	if (strchr(a->host, ':'))
		snprintf(out, cap, "[%s]:%u", a->host, (unsigned)a->port);
	else
		snprintf(out, cap, "%s:%u", a->host, (unsigned)a->port);
}

/* ------------------------------------------------------------ connection */

void elog_conn_config_init(struct elog_conn_config *cfg)
{
	cfg->connect_timeout_ms = ELOG_CONNECT_TIMEOUT_DEFAULT_MS;
	cfg->frame_bytes_max = ELOG_FRAME_BYTES_DEFAULT;
	cfg->send_buffer_bytes = 64u << 20;
	cfg->in_flight_max = 64;
}

void elog_conn_init(struct elog_conn *c, const struct elog_conn_config *cfg)
{
	memset(c, 0, sizeof(*c));
	if (cfg)
		c->config = *cfg;
	else
		elog_conn_config_init(&c->config);
	if (c->config.frame_bytes_max < 64 || c->config.frame_bytes_max > ELOG_FRAME_BYTES_HARD_MAX)
		c->config.frame_bytes_max = ELOG_FRAME_BYTES_DEFAULT;
	if (c->config.in_flight_max == 0)
		c->config.in_flight_max = 1;
	if (c->config.in_flight_max > CONN_IN_FLIGHT_HARD_MAX)
		c->config.in_flight_max = CONN_IN_FLIGHT_HARD_MAX;
	if (c->config.send_buffer_bytes < 4096)
		c->config.send_buffer_bytes = 4096;
	if (c->config.connect_timeout_ms <= 0)
		c->config.connect_timeout_ms = ELOG_CONNECT_TIMEOUT_DEFAULT_MS;
	c->fd = -1;
	/* The output buffer holds the backlog plus one whole request (at most a frame). */
	elog_buf_init(&c->out, c->config.send_buffer_bytes + c->config.frame_bytes_max +
				       ELOG_FRAME_PREFIX_SIZE);
	elog_buf_init(&c->in, (size_t)c->config.frame_bytes_max + ELOG_FRAME_PREFIX_SIZE);
	c->next_correlation_id = 1;
	snprintf(c->name, sizeof(c->name), "(not connected)");
}

void elog_conn_close(struct elog_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->out.len = 0;
	c->out_sent = 0;
	c->in.len = 0;
	c->in_off = 0;
	c->pending_count = 0;
	c->broken = 0;
	c->connecting = 0;
}

void elog_conn_release(struct elog_conn *c)
{
	elog_conn_close(c);
	elog_buf_release(&c->out);
	elog_buf_release(&c->in);
	free(c->pending);
	c->pending = NULL;
	free(c->addrs);
	c->addrs = NULL;
	free(c->addr_lens);
	c->addr_lens = NULL;
}

static void conn_set_name(struct elog_conn *c, const char *host, uint16_t port)
{
	struct elog_broker_addr a;

	snprintf(a.host, sizeof(a.host), "%s", host);
	a.port = port;
	elog_broker_addr_format(&a, c->name, sizeof(c->name));
}

/*
 * Connecting. elog_conn_connect_start resolves the name once, keeps up to
 * ELOG_CONN_ADDRS_MAX addresses and starts a non-blocking connect to the
 * first; conn_connect_step (from elog_conn_io) finishes it or moves on to
 * the next address. The whole attempt shares one deadline. Nothing here
 * blocks: elog_conn_connect is the same plus a poll loop.
 */

/* Start a connect to addrs[addr_next++] and on: 1 in progress, 0 connected,
 * -1 every address left failed at once (connect_errno says why). */
static int conn_try_next(struct elog_conn *c)
{
	while (c->addr_next < c->addr_count) {
		const struct sockaddr_storage *sa = &c->addrs[c->addr_next];
		socklen_t len = (socklen_t)c->addr_lens[c->addr_next];
		int fd;

		c->addr_next++;
		fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->connect_errno = errno;
			continue;
		}
		if (connect(fd, (const struct sockaddr *)sa, len) == 0) {
			c->fd = fd;
			return 0;
		}
		if (errno == EINPROGRESS || errno == EINTR) {
			c->fd = fd;
			return 1;
		}
		c->connect_errno = errno;
		close(fd);
	}
	return -1;
}

static void conn_connected(struct elog_conn *c)
{
	int one = 1;

	assert(c->fd >= 0);
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c->connecting = 0;
	c->broken = 0;
}

static void conn_break(struct elog_conn *c, struct elog_err *why);

/* The connect failed for good: broken without a socket (fd -1), so that
 * elog_conn_recv reports why and closes. */
static void conn_connect_failed(struct elog_conn *c, int timed_out)
{
	struct elog_err e;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connecting = 0;
	if (timed_out)
		elog_err_set(&e, ELOG_E_IO, "cannot connect to %s: timed out after %d ms", c->name,
			     c->config.connect_timeout_ms);
	else
		elog_client_err_errno(&e, ELOG_E_IO, c->connect_errno ? c->connect_errno : ECONNREFUSED,
				      "cannot connect to %s", c->name);
	conn_break(c, &e);
}

/* Advance a connect under way without blocking. */
static void conn_connect_step(struct elog_conn *c, int64_t now_ms)
{
	while (c->connecting) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
		int so_error = 0, rc;
		socklen_t len = sizeof(so_error);

		rc = poll(&pfd, 1, 0);
		if (rc == 0) {
			if (now_ms >= c->connect_deadline_ms) {
				close(c->fd);
				c->fd = -1;
				conn_connect_failed(c, 1);
			}
			return;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			so_error = errno;
		else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
			so_error = errno;
		if (!so_error) {
			conn_connected(c);
			return;
		}
		c->connect_errno = so_error;
		close(c->fd);
		c->fd = -1;
		rc = now_ms < c->connect_deadline_ms ? conn_try_next(c) : -1;
		if (rc == 0)
			conn_connected(c);
		else if (rc < 0)
			conn_connect_failed(c, now_ms >= c->connect_deadline_ms &&
						       c->addr_next < c->addr_count);
	}
}

int elog_conn_connect_start(struct elog_conn *c, const char *host, uint16_t port,
			    struct elog_err *err)
{
	struct addrinfo hints, *res = NULL;
	char port_text[8];
	int rc;

	elog_conn_close(c);
	conn_set_name(c, host, port);
	if (!c->pending) {
		c->pending = calloc(c->config.in_flight_max, sizeof(*c->pending));
		if (!c->pending)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a connection");
	}
	if (!c->addrs) {
		c->addrs = calloc(ELOG_CONN_ADDRS_MAX, sizeof(*c->addrs));
		c->addr_lens = calloc(ELOG_CONN_ADDRS_MAX, sizeof(*c->addr_lens));
		if (!c->addrs || !c->addr_lens)
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory for a connection");
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
	rc = getaddrinfo(host, port_text, &hints, &res);
	if (rc != 0)
		return elog_err_set(err, ELOG_E_IO, "cannot connect to %s: cannot resolve '%s': %s",
				    c->name, host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	c->addr_count = c->addr_next = 0;
	for (struct addrinfo *ai = res; ai && c->addr_count < ELOG_CONN_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(c->addrs[0]))
			continue;
		memcpy(&c->addrs[c->addr_count], ai->ai_addr, ai->ai_addrlen);
		c->addr_lens[c->addr_count++] = (uint32_t)ai->ai_addrlen;
	}
	freeaddrinfo(res);
	c->connect_errno = 0;
	c->connect_deadline_ms = elog_clock_ms() + c->config.connect_timeout_ms;
	rc = conn_try_next(c);
	if (rc < 0)
		return elog_client_err_errno(err, ELOG_E_IO, c->connect_errno ? c->connect_errno : ECONNREFUSED,
					     "cannot connect to %s", c->name);
	if (rc == 0)
		conn_connected(c);
	else
		c->connecting = 1;
	return 0;
}

int elog_conn_connect(struct elog_conn *c, const char *host, uint16_t port, struct elog_err *err)
{
	if (elog_conn_connect_start(c, host, port, err) < 0)
		return -1;
	/* Bounded by connect_deadline_ms: each round waits at most until it. */
	while (c->connecting) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
		int64_t left = c->connect_deadline_ms - elog_clock_ms();
		if (poll(&pfd, 1, left > 0 ? (int)left : 0) < 0 && errno != EINTR) {
			int e = errno;
			elog_conn_close(c);
			return elog_client_err_errno(err, ELOG_E_IO, e, "cannot connect to %s", c->name);
		}
		conn_connect_step(c, elog_clock_ms());
	}
	if (c->broken) {
		if (err)
			*err = c->broken_err;
		elog_conn_close(c);
		return -1;
	}
	return 0;
}

int64_t elog_conn_oldest_ms(const struct elog_conn *c)
{
	int64_t oldest = INT64_MAX;

	for (uint32_t i = 0; i < c->pending_count; i++)
		if (c->pending[i].sent_ms < oldest)
			oldest = c->pending[i].sent_ms;
	return oldest;
}

int elog_conn_timeout_ms(const struct elog_conn *c, int64_t now_ms)
{
	int64_t next = INT64_MAX;

	if (c->fd < 0 || c->broken)
		return -1;
	if (c->connecting)
		next = c->connect_deadline_ms;
	for (uint32_t i = 0; i < c->pending_count; i++)
		if (c->pending[i].deadline_ms && c->pending[i].deadline_ms < next)
			next = c->pending[i].deadline_ms;
	if (next == INT64_MAX)
		return -1;
	return next <= now_ms ? 0 : next - now_ms > INT32_MAX ? INT32_MAX : (int)(next - now_ms);
}

int elog_conn_can_send(const struct elog_conn *c)
{
	return c->fd >= 0 && !c->broken && c->pending_count < c->config.in_flight_max &&
	       c->out.len - c->out_sent < c->config.send_buffer_bytes;
}

int elog_conn_request_begin(struct elog_conn *c, struct elog_wire_w *w, uint16_t api,
			    uint32_t *correlation_id, struct elog_err *err)
{
	if (c->fd < 0 || c->broken)
		return elog_err_set(err, ELOG_E_IO, "%s: not connected", c->name);
	if (c->pending_count >= c->config.in_flight_max)
		return elog_err_set(err, ELOG_E_LIMIT, "%s: %u requests already in flight", c->name,
				    c->pending_count);
	if (c->out.len - c->out_sent >= c->config.send_buffer_bytes)
		return elog_err_set(err, ELOG_E_LIMIT, "%s: send buffer full (%zu bytes)", c->name,
				    c->out.len - c->out_sent);
	/* Compact written bytes away before appending, so out holds only the backlog. */
	if (c->out_sent) {
		elog_buf_consume(&c->out, c->out_sent);
		c->out_sent = 0;
	}
	*correlation_id = c->next_correlation_id++;
	if (c->next_correlation_id == 0)
		c->next_correlation_id = 1;
	elog_wire_w_init(w, &c->out);
	elog_wire_frame_begin(w, api, *correlation_id);
	return 0;
}

int elog_conn_request_end(struct elog_conn *c, struct elog_wire_w *w, int expect_response,
			  uint64_t tag, int timeout_ms, struct elog_err *err)
{
	struct elog_conn_pending *pe;
	uint16_t api;
	uint32_t cid;

	if (elog_wire_frame_end(w, err) < 0)
		return elog_err_prefix(err, "%s: request", c->name);
	if (w->buf->len - w->frame_start > (size_t)c->config.frame_bytes_max + ELOG_FRAME_PREFIX_SIZE) {
		c->out.len = w->frame_start;
		return elog_err_set(err, ELOG_E_LIMIT, "%s: request of %zu bytes exceeds the frame limit of %u",
				    c->name, w->buf->len - w->frame_start, c->config.frame_bytes_max);
	}
	if (!expect_response)
		return 0;
	api = elog_get16(c->out.data + w->frame_start + 4);
	cid = elog_get32(c->out.data + w->frame_start + 8);
	assert(c->pending_count < c->config.in_flight_max);
	pe = &c->pending[c->pending_count++];
	pe->correlation_id = cid;
	pe->api = api;
	pe->version = elog_get16(c->out.data + w->frame_start + 6);
	pe->tag = tag;
	pe->sent_ms = elog_clock_ms();
	pe->deadline_ms = timeout_ms > 0 ? pe->sent_ms + timeout_ms : 0;
	return 0;
}

short elog_conn_events(const struct elog_conn *c)
{
	if (c->fd < 0 || c->broken)
		return 0;
	if (c->connecting)
		return POLLOUT;
	return (short)(POLLIN | (c->out.len > c->out_sent ? POLLOUT : 0));
}

static void conn_break(struct elog_conn *c, struct elog_err *why)
{
	if (c->broken)
		return;
	c->broken = 1;
	c->broken_err = *why;
}

static void conn_break_errno(struct elog_conn *c, int errnum, const char *what)
{
	struct elog_err e;

	elog_client_err_errno(&e, ELOG_E_IO, errnum, "%s: %s", c->name, what);
	conn_break(c, &e);
}

static void conn_read(struct elog_conn *c)
{
	for (;;) {
		ssize_t n;
		size_t room;

		if (c->in_off && (c->in_off == c->in.len || c->in.len == c->in.len_max)) {
			elog_buf_consume(&c->in, c->in_off);
			c->in_off = 0;
		}
		if (c->in.len == c->in.len_max)
			return; /* full of complete frames: take them first */
		room = c->in.len_max - c->in.len;
		if (room > CONN_READ_CHUNK)
			room = CONN_READ_CHUNK;
		if (c->in.cap - c->in.len < room && elog_buf_reserve(&c->in, room, NULL) < 0) {
			struct elog_err e;
			elog_err_set(&e, ELOG_E_NOMEM, "%s: out of memory for the input buffer", c->name);
			conn_break(c, &e);
			return;
		}
		room = c->in.cap - c->in.len;
		if (room > c->in.len_max - c->in.len)
			room = c->in.len_max - c->in.len;
		n = recv(c->fd, c->in.data + c->in.len, room, 0);
		if (n > 0) {
			c->in.len += (size_t)n;
			if ((size_t)n < room)
				return; /* drained */
			continue;
		}
		if (n == 0) {
			struct elog_err e;
			elog_err_set(&e, ELOG_E_IO, "%s: connection closed by the broker", c->name);
			conn_break(c, &e);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_break_errno(c, errno, "receive failed");
		return;
	}
}

static void conn_write(struct elog_conn *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_break_errno(c, n < 0 ? errno : EPIPE, "send failed");
		return;
	}
	c->out.len = 0;
	c->out_sent = 0;
}

int elog_conn_io(struct elog_conn *c, short revents, int64_t now_ms, struct elog_err *err)
{
	if (c->fd < 0 && !c->broken)
		return elog_err_set(err, ELOG_E_IO, "%s: not connected", c->name);
	if (c->broken)
		return 0;
	(void)revents; /* reads and writes are attempted regardless: both are non-blocking */
	if (c->connecting) {
		conn_connect_step(c, now_ms);
		if (c->connecting || c->broken)
			return 0;
	}
	conn_read(c);
	if (!c->broken)
		conn_write(c);
	for (uint32_t i = 0; i < c->pending_count && !c->broken; i++) {
		const struct elog_conn_pending *pe = &c->pending[i];
		if (pe->deadline_ms && now_ms >= pe->deadline_ms) {
			struct elog_err e;
			elog_err_set(&e, ELOG_E_IO, "%s: no response to %s within the request timeout",
				     c->name, elog_api_name(pe->api));
			conn_break(c, &e);
		}
	}
	return 0;
}

/* A complete frame waits at in_off? */
static int conn_frame_ready(const struct elog_conn *c)
{
	size_t avail = c->in.len - c->in_off;
	uint32_t length;

	if (avail < ELOG_FRAME_HEADER_SIZE)
		return 0;
	length = elog_get32(c->in.data + c->in_off);
	return (uint64_t)length + ELOG_FRAME_PREFIX_SIZE <= avail;
}

int elog_conn_wait(struct elog_conn *c, int timeout_ms, struct elog_err *err)
{
	struct pollfd pfd;
	int64_t now;

	if (c->fd < 0 && !c->broken)
		return elog_err_set(err, ELOG_E_IO, "%s: not connected", c->name);
	if (c->broken || conn_frame_ready(c))
		return 0;
	pfd.fd = c->fd;
	pfd.events = elog_conn_events(c);
	pfd.revents = 0;
	/* Wake for the earliest deadline (connect or request) too. */
	now = elog_clock_ms();
	{
		int left = elog_conn_timeout_ms(c, now);
		if (left >= 0 && (timeout_ms < 0 || left < timeout_ms))
			timeout_ms = left;
	}
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
		return elog_client_err_errno(err, ELOG_E_IO, errno, "%s: poll", c->name);
	return elog_conn_io(c, pfd.revents, elog_clock_ms(), err);
}

static int conn_fail(struct elog_conn *c, struct elog_err *err)
{
	if (err)
		*err = c->broken_err;
	elog_conn_close(c);
	return -1;
}

/*
 * A broker from before per-api versions answers a newer version's request
 * in version 1 with UNSUPPORTED_VERSION: take that answer (the caller
 * reports its message, naming what the broker speaks) rather than call
 * the frame unexpected.
 */
static int old_broker_refusal(const struct elog_frame_header *h, const uint8_t *frame,
			      size_t total)
{
	return h->version == ELOG_PROTO_VERSION && total >= ELOG_FRAME_HEADER_SIZE + 2 &&
	       (int16_t)elog_get16(frame + ELOG_FRAME_HEADER_SIZE) == ELOG_PE_UNSUPPORTED_VERSION;
}

int elog_conn_recv(struct elog_conn *c, struct elog_response *resp, struct elog_err *err)
{
	struct elog_frame_header h;
	struct elog_err e;
	size_t avail, total;
	const uint8_t *p;
	uint32_t i;

	if (c->fd < 0 && !c->broken)
		return elog_err_set(err, ELOG_E_IO, "%s: not connected", c->name);
	avail = c->in.len - c->in_off;
	if (avail < ELOG_FRAME_HEADER_SIZE) {
		if (c->broken)
			return conn_fail(c, err);
		return 0;
	}
	p = c->in.data + c->in_off;
	if (elog_frame_header_decode(p, avail, c->config.frame_bytes_max, &h, &e) < 0) {
		elog_err_prefix(&e, "%s: bad response", c->name);
		c->broken = 0;
		conn_break(c, &e);
		return conn_fail(c, err);
	}
	total = (size_t)h.length + ELOG_FRAME_PREFIX_SIZE;
	if (avail < total) {
		if (c->broken)
			return conn_fail(c, err);
		/* Make room for the whole frame now rather than doubling up to it. */
		if (c->in_off + total > c->in.cap && c->in_off) {
			elog_buf_consume(&c->in, c->in_off);
			c->in_off = 0;
		}
		(void)elog_buf_reserve(&c->in, total - (c->in.len - c->in_off), NULL);
		return 0;
	}
	for (i = 0; i < c->pending_count; i++)
		if (c->pending[i].correlation_id == h.correlation_id)
			break;
	if (!(h.api & ELOG_API_RESPONSE) || i == c->pending_count ||
	    (uint16_t)(h.api & ~ELOG_API_RESPONSE) != c->pending[i].api ||
	    (h.version != c->pending[i].version && !old_broker_refusal(&h, p, total))) {
		elog_err_set(&e, ELOG_E_CORRUPT,
			     "%s: unexpected frame (api %u, version %u, correlation id %u)", c->name,
			     (unsigned)h.api, (unsigned)h.version, h.correlation_id);
		c->broken = 0;
		conn_break(c, &e);
		return conn_fail(c, err);
	}
	resp->api = c->pending[i].api;
	resp->version = h.version;
	resp->tag = c->pending[i].tag;
	resp->correlation_id = h.correlation_id;
	c->pending[i] = c->pending[--c->pending_count];
	if (c->in_off == 0 && total == c->in.len && c->in.len_max == resp->frame.len_max) {
		/* The frame is all the buffer holds: hand the buffer over, no copy. */
		struct elog_buf tmp = resp->frame;
		resp->frame = c->in;
		c->in = tmp;
		c->in.len = 0;
	} else {
		elog_buf_reset(&resp->frame);
		if (elog_buf_add(&resp->frame, p, total, &e) < 0) {
			elog_err_prefix(&e, "%s: response", c->name);
			c->broken = 0;
			conn_break(c, &e);
			return conn_fail(c, err);
		}
		c->in_off += total;
		if (c->in_off == c->in.len) {
			c->in.len = 0;
			c->in_off = 0;
		}
	}
	resp->body = resp->frame.data + ELOG_FRAME_HEADER_SIZE;
	resp->body_len = total - ELOG_FRAME_HEADER_SIZE;
	return 1;
}

void elog_response_init(struct elog_response *r, uint32_t frame_bytes_max)
{
	memset(r, 0, sizeof(*r));
	if (frame_bytes_max < 64 || frame_bytes_max > ELOG_FRAME_BYTES_HARD_MAX)
		frame_bytes_max = ELOG_FRAME_BYTES_DEFAULT;
	elog_buf_init(&r->frame, (size_t)frame_bytes_max + ELOG_FRAME_PREFIX_SIZE);
}

void elog_response_release(struct elog_response *r)
{
	elog_buf_release(&r->frame);
	r->body = NULL;
	r->body_len = 0;
}
