/* broker_raft_net — the RAFT transport between the brokers of a cluster:
 * one outbound connection per peer, frames gathered per loop turn, inbound
 * frames dispatched by group; see broker_raft.h and docs/protocol.md. */
#include "broker_raft.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"

/*
 * A replica whose log was empty when its group started and may have lost
 * records (its directory was lost, it belongs to a replaced broker, or it
 * restarted empty: g->empty, see group_new and topic_groups), still empty,
 * that now hears from a peer that the group holds records. Until it has
 * caught up it may not vote: records it once acknowledged may be on no
 * other live replica, and its vote could elect one that lacks them (the
 * "last replica standing" loss). Records show in a campaign's last_end, in
 * an APPEND's prev_end or commit, in a heartbeat's commit. A group made for
 * the first time for a new topic is not guarded: its first leader's term
 * start, on that replica alone, would otherwise lock both others out when
 * that leader was deposed before sending it.
 */
static int empty_behind(const struct raft_group *g, const struct elog_raft_msg *m)
{
	if (!g->empty || g->raft.config.voter_count < 2 || elog_raft_restricted(&g->raft) ||
	    elog_partlog_next_offset(g->log) != 0)
		return 0;
	switch (m->type) {
	case ELOG_RAFT_MSG_VOTE:
	case ELOG_RAFT_MSG_PREVOTE:
		return m->vote.last_end > 0;
	case ELOG_RAFT_MSG_APPEND:
		return m->append.prev_end > 0 || m->append.commit > 0;
	case ELOG_RAFT_MSG_HEARTBEAT:
		return m->heartbeat.commit > 0;
	default:
		return 0;
	}
}

/* Warn about a dropped frame, at most once per RAFT_WARN_INTERVAL_MS. */
static void drop_warn(struct elog_broker *b, const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void drop_warn(struct elog_broker *b, const char *peer, const char *fmt, ...)
{
	static int64_t last_ms = -RAFT_WARN_INTERVAL_MS;
	static uint64_t dropped;
	char why[512], v[ELOG_LOG_VALUE_MAX], pv[ELOG_LOG_VALUE_MAX];
	int64_t now = elog_loop_now_ms(&b->loop);
	va_list ap;

	if (now - last_ms < RAFT_WARN_INTERVAL_MS) {
		dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	elog_logf(b->log, ELOG_LOG_WARN, "raft frame dropped",
		  "peer=%s reason=%s dropped_since_last=%" PRIu64,
		  elog_logfmt_value(pv, sizeof(pv), peer), elog_logfmt_value(v, sizeof(v), why),
		  dropped);
	last_ms = now;
	dropped = 0;
}

/* ---------------------------------------------------------------- outbound */

static void peer_announce_all(struct elog_cluster *k, struct raft_peer *p);

static struct raft_peer *peer_find(struct elog_cluster *k, int32_t id)
{
	for (uint32_t i = 0; i < k->peer_count; i++)
		if (k->peers[i].id == id)
			return &k->peers[i];
	return NULL;
}

static void peer_fail(struct raft_peer *p, const char *why)
{
	struct elog_broker *b = p->k->b;
	char v[ELOG_LOG_VALUE_MAX];

	if (p->fd >= 0) {
		elog_loop_remove(&b->loop, p->fd);
		close(p->fd);
		p->fd = -1;
	}
	if (p->connected)
		elog_logf(b->log, ELOG_LOG_INFO, "peer disconnected", "peer=%d reason=%s", p->id,
			  elog_logfmt_value(v, sizeof(v), why));
	p->connected = 0;
	elog_buf_reset(&p->out);
	p->out_sent = p->out_ready = p->out_free = p->hold_mark = 0;
	p->frame_open = 0;
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : RAFT_BACKOFF_MIN_MS;
	if (p->backoff_ms > RAFT_BACKOFF_MAX_MS)
		p->backoff_ms = RAFT_BACKOFF_MAX_MS;
	p->retry_at_ms = elog_loop_now_ms(&b->loop) + p->backoff_ms;
}

static void peer_send(struct raft_peer *p)
{
	struct elog_broker *b = p->k->b;

	/* Only closed frames go (the one being built has no length yet), and
	 * of those only what no raft.state write being made holds back. */
	while (p->out_sent < p->out_free) {
		ssize_t n = send(p->fd, p->out.data + p->out_sent, p->out_free - p->out_sent,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			elog_loop_modify(&b->loop, p->fd, ELOG_LOOP_READ | ELOG_LOOP_WRITE, NULL);
			return;
		}
		if (n <= 0) {
			peer_fail(p, strerror(errno));
			return;
		}
		p->out_sent += (size_t)n;
	}
	if (p->out_sent == p->out.len) {
		elog_buf_reset(&p->out);
		p->out_sent = p->out_ready = p->out_free = p->hold_mark = 0;
	}
	elog_loop_modify(&b->loop, p->fd, ELOG_LOOP_READ, NULL);
}

static void on_peer(struct elog_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct raft_peer *p = ctx;
	uint8_t sink[4096];

	(void)loop;
	(void)fd;
	if (!p->connected) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e != 0) {
			peer_fail(p, strerror(e ? e : errno));
			return;
		}
		p->connected = 1;
		p->backoff_ms = 0;
		p->announce = 1; /* it may have restarted knowing no leader */
		p->hello_owed = p->k->auth != NULL;
		elog_logf(p->k->b->log, ELOG_LOG_INFO, "peer connected", "peer=%d", p->id);
	}
	if (events & (ELOG_LOOP_READ | ELOG_LOOP_ERROR)) {
		/* Nothing comes back on this connection but its end. */
		ssize_t n = recv(p->fd, sink, sizeof(sink), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			peer_fail(p, n == 0 ? "closed by the peer" : strerror(errno));
			return;
		}
	}
	if (p->fd >= 0)
		peer_send(p);
}

static void peer_connect(struct raft_peer *p)
{
	struct elog_broker *b = p->k->b;
	int one = 1, fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		peer_fail(p, strerror(errno));
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->fd = fd;
	if (connect(fd, (struct sockaddr *)&p->addr, p->addr_len) < 0 && errno != EINPROGRESS) {
		peer_fail(p, strerror(errno));
		return;
	}
	if (elog_loop_add(&b->loop, fd, ELOG_LOOP_READ | ELOG_LOOP_WRITE, on_peer, p, NULL) < 0) {
		peer_fail(p, "no room in the event loop");
		return;
	}
}

static void frame_open(struct elog_cluster *k, struct raft_peer *p)
{
	elog_wire_w_init(&p->w, &p->out);
	p->count_pos = elog_raftwire_begin(&p->w, k->self, p->id, k->frame_seq++);
	p->count = 0;
	p->frame_open = 1;
	if (p->hello_owed) {
		struct elog_raftauth_hello h;
		elog_raftauth_hello(k->auth, k->self, p->id, &h);
		elog_raftwire_put_hello(&p->w, &h);
		p->count++;
		p->hello_owed = 0;
	}
}

/*
 * Connect what is not connected; and to every peer one frame per tick at
 * least, empty when no group has anything to say: the broker pair's
 * heartbeat, by which quiesced groups know the other broker is alive
 * (docs/raft.md, "Quiescence").
 */
void raft_peers_tick(struct elog_cluster *k)
{
	int64_t now = elog_loop_now_ms(&k->b->loop);

	for (uint32_t i = 0; i < k->peer_count; i++) {
		struct raft_peer *p = &k->peers[i];
		if (p->fd < 0 && now >= p->retry_at_ms)
			peer_connect(p);
		else if (p->connected && !p->frame_open)
			frame_open(k, p);
		if (p->connected && p->announce)
			peer_announce_all(k, p);
		p->leaving_owed = k->transferring && p->connected;
	}
}

int raft_peer_heard(struct elog_cluster *k, int32_t id)
{
	const struct raft_peer *p = peer_find(k, id);

	return p && p->heard;
}

/*
 * Leaving. A broker shutting down hands its leaderships over and refuses
 * any offered to it (TIMEOUT_NOW): one handed to it then would refuse
 * produces until its leader gave the transfer up, an election timeout
 * later. So it says so to every peer, each tick, and they skip it as a
 * target (leader balance, their own hand-overs) and give up at once the
 * transfers to it in progress. Believed for two of their election
 * timeouts after the last word (1 s at least): past that, it has exited
 * or started again.
 */
int raft_peer_leaving(struct elog_cluster *k, int32_t id)
{
	const struct raft_peer *p = peer_find(k, id);

	return p && elog_loop_now_ms(&k->b->loop) < p->leaving_until_ms;
}

static void peer_leaving(struct elog_cluster *k, int32_t id)
{
	struct raft_peer *p = peer_find(k, id);
	const struct elog_broker_config *c = &k->b->config;
	int64_t now = elog_loop_now_ms(&k->b->loop);
	int64_t hold = 2 * (int64_t)c->raft_election_ticks * c->raft_tick_ms;

	if (!p)
		return;
	if (now >= p->leaving_until_ms) {
		elog_logf(k->b->log, ELOG_LOG_INFO, "broker shutting down",
			  "broker=%d hint=%s", id, "no leadership is handed to it");
		raft_groups_peer_leaving(k, id);
	}
	p->leaving_until_ms = now + (hold > 1000 ? hold : 1000);
}

void raft_peers_heard_reset(struct elog_cluster *k)
{
	for (uint32_t i = 0; i < k->peer_count; i++)
		k->peers[i].heard = 0;
}

static void frame_close(struct raft_peer *p)
{
	struct elog_err err;

	if (!p->frame_open)
		return;
	p->frame_open = 0;
	elog_wire_patch_count(&p->w, p->count_pos, p->count);
	if (elog_wire_frame_end(&p->w, &err) < 0) {
		p->out.len = p->w.frame_start; /* too big for the buffer: dropped whole */
		p->dropped += p->count;
	}
	p->out_ready = p->out.len;
}

/* Open a frame to p with room for a message; 0 when p cannot take one now. */
static int peer_frame_ready(struct elog_cluster *k, struct raft_peer *p)
{
	if (!p->connected || p->out.len - p->out_sent > RAFT_PEER_OUT_MAX) {
		p->dropped++;
		return 0;
	}
	if (p->frame_open && p->out.len - p->w.frame_start > RAFT_FRAME_BYTES)
		frame_close(p);
	if (!p->frame_open)
		frame_open(k, p);
	return 1;
}

void raft_peer_queue(struct elog_cluster *k, int32_t to, const struct raft_group *g,
		     const struct elog_raft_msg *m, const uint8_t *batches, size_t len)
{
	struct raft_peer *p = peer_find(k, to);

	if (!p || !peer_frame_ready(k, p))
		return;
	elog_raftwire_put(&p->w, &g->id, m, batches, len);
	p->count++;
}

static int is_voter(const struct raft_group *g, int32_t id)
{
	const struct elog_raft_config *c = &g->raft.config;

	for (uint32_t i = 0; i < c->voter_count; i++)
		if (c->voters[i] == id)
			return 1;
	return 0;
}

/*
 * Leader hints. A broker that holds no replica of a partition has no Raft
 * group for it, so it cannot know the leader its METADATA should name (with
 * five brokers and three replicas, two of five brokers). The leader tells
 * them: once when it is elected, and again, for every group it leads, to a
 * broker its connection to has just (re)opened, which may have restarted
 * knowing nothing. A hint is never trusted for more than routing: a client
 * sent to a broker that no longer leads gets NOT_LEADER and asks again.
 */
void raft_peers_announce(struct elog_cluster *k, const struct raft_group *g, int32_t to)
{
	for (uint32_t i = 0; i < k->peer_count; i++) {
		struct raft_peer *p = &k->peers[i];
		if ((to >= 0 && p->id != to) || is_voter(g, p->id) || !peer_frame_ready(k, p))
			continue;
		elog_raftwire_put_leader(&p->w, &g->id, elog_raft_term(&g->raft));
		p->count++;
	}
}

/* The hints a (re)connected peer is owed; kept owed while its buffer is full. */
static void peer_announce_all(struct elog_cluster *k, struct raft_peer *p)
{
	for (const struct raft_group *g = k->groups; g; g = g->next) {
		if (elog_raft_role(&g->raft) != ELOG_RAFT_LEADER || is_voter(g, p->id))
			continue;
		if (p->out.len - p->out_sent > RAFT_PEER_OUT_MAX)
			return;
		raft_peers_announce(k, g, p->id);
	}
	p->announce = 0;
}

void raft_peers_close_frames(struct elog_cluster *k)
{
	for (uint32_t i = 0; i < k->peer_count; i++) {
		struct raft_peer *p = &k->peers[i];
		if (p->leaving_owed && peer_frame_ready(k, p)) {
			elog_raftwire_put_leaving(&p->w);
			p->count++;
		}
		p->leaving_owed = 0;
		frame_close(p);
	}
}

void raft_peers_send(struct elog_cluster *k)
{
	for (uint32_t i = 0; i < k->peer_count; i++) {
		struct raft_peer *p = &k->peers[i];
		if (p->fd >= 0 && p->connected && p->out_sent < p->out_free)
			peer_send(p);
	}
}

void raft_peers_hold(struct elog_cluster *k)
{
	for (uint32_t i = 0; i < k->peer_count; i++)
		k->peers[i].hold_mark = k->peers[i].out_ready;
}

void raft_peers_release(struct elog_cluster *k, int all)
{
	for (uint32_t i = 0; i < k->peer_count; i++) {
		struct raft_peer *p = &k->peers[i];
		size_t to = all ? p->out_ready : p->hold_mark;
		if (to > p->out_free)
			p->out_free = to;
	}
}

void raft_peers_drop(struct elog_cluster *k, const char *why)
{
	for (uint32_t i = 0; i < k->peer_count; i++)
		if (k->peers[i].fd >= 0)
			peer_fail(&k->peers[i], why);
}

int raft_peers_open(struct elog_cluster *k, struct elog_err *err)
{
	const struct elog_cluster_config *cc = &k->b->config.cluster;

	for (uint32_t i = 0; i < cc->count; i++) {
		const struct elog_cluster_member *m = &cc->members[i];
		struct raft_peer *p;
		struct addrinfo hints = {0}, *res = NULL;
		char port[8];
		int rc;
		if (m->id == k->self)
			continue;
		p = &k->peers[k->peer_count++];
		p->k = k;
		p->id = m->id;
		p->fd = -1;
		elog_buf_init(&p->out, RAFT_PEER_OUT_MAX + ELOG_BATCH_SIZE_MAX + (2u << 20));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%u", m->port);
		rc = getaddrinfo(m->host, port, &hints, &res);
		if (rc != 0 || !res)
			return elog_err_set(err, ELOG_E_IO, "cluster: broker %d: %s: cannot resolve: %s",
					    m->id, m->host, gai_strerror(rc));
		memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
		p->addr_len = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return 0;
}

void raft_peers_close(struct elog_cluster *k)
{
	for (uint32_t i = 0; i < k->peer_count; i++) {
		struct raft_peer *p = &k->peers[i];
		if (p->fd >= 0) {
			if (k->b->loop_ready)
				elog_loop_remove(&k->b->loop, p->fd);
			close(p->fd);
			p->fd = -1;
		}
		elog_buf_release(&p->out);
	}
	k->peer_count = 0;
}

/* ---------------------------------------------------------------- inbound */

/* Descriptors and positions of an APPEND's batches, each validated; a
 * batch that fails ends the list there (the leader sends it again). */
static uint32_t append_batches(struct elog_cluster *k, const struct elog_raftwire_msg *m,
			       const char *peer)
{
	/* GAPS: a compacted leader sends its compacted batches (docs/format.md). */
	static const struct elog_batch_rules rules = {.offsets = ELOG_BATCH_OFFSETS_GAPS};
	struct elog_err err;
	uint32_t n = 0, pos = 0;

	if (elog_raftwire_batches(m->batches, m->batches_len, k->batches,
				  ELOG_RAFT_APPEND_BATCHES_MAX, &n, &err) < 0) {
		drop_warn(k->b, peer, "append: %s", err.msg);
		return UINT32_MAX;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len = elog_get32(m->batches + pos + ELOG_BATCH_LENGTH_OFFSET) +
			       ELOG_BATCH_PREFIX_SIZE;
		if (elog_batch_validate(&k->validator, m->batches + pos, len, &rules, &err) < 0) {
			drop_warn(k->b, peer, "append: batch at offset %" PRId64 ": %s",
				  k->batches[i].base, err.msg);
			return i;
		}
		k->batch_pos[i] = pos;
		pos += len;
	}
	return n;
}

/* A leader hint for a partition with no replica here (replicas learn from Raft). */
static void leader_hint(struct elog_cluster *k, const struct elog_raftwire_msg *m)
{
	struct elog_topic *t = elog_store_find(k->b->store, m->group.topic, m->group.topic_len);
	struct elog_partition *p;

	if (!t || t->incarnation != m->group.incarnation || m->group.partition >= t->partition_count)
		return;
	p = t->partitions[m->group.partition];
	if (!p || p->replication || m->msg.term < p->leader_hint_term)
		return;
	/* Only one of the partition's replicas can lead it: a hint from any
	 * other broker (with a term no real leader reaches) would misroute
	 * clients for good. */
	{
		const int32_t *replicas = elog_topic_replicas(t, m->group.partition);
		uint32_t i = 0;
		while (replicas && i < t->replication_factor && replicas[i] != m->msg.from)
			i++;
		if (!replicas || i == t->replication_factor)
			return;
	}
	p->leader_hint = m->msg.from;
	p->leader_hint_term = m->msg.term;
}

/* With a cluster secret: a connection's first frame opens with a good
 * HELLO from the broker it claims to be, or it is dropped and closed. */
static int authenticate(struct elog_cluster *k, struct elog_conn *c, struct elog_raftwire_reader *rd)
{
	struct elog_raftwire_msg m;
	struct elog_err err;
	struct timespec ts;

	if (elog_raftwire_next(rd, &m, &err) != 1 || !m.is_hello) {
		drop_warn(k->b, c->peer,
			  "from broker %d: not authenticated (no hello first: is cluster_secret_file set on every broker?)",
			  rd->from);
		c->closing = 1;
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (elog_raftauth_check(k->auth, rd->from, k->self, &m.hello,
				(uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u, &err) < 0) {
		drop_warn(k->b, c->peer, "%s", err.msg);
		c->closing = 1;
		return -1;
	}
	c->raft_authed = 1;
	c->raft_from = rd->from;
	return 0;
}

void elog_broker_raft_frame(struct elog_conn *c, const struct elog_frame_header *h,
			    const uint8_t *body, size_t len)
{
	struct elog_broker *b = c->broker;
	struct elog_cluster *k = b->cluster;
	struct elog_raftwire_reader rd;
	struct elog_raftwire_msg m;
	struct elog_err err;
	int rc;

	(void)h;
	if (!k) {
		drop_warn(b, c->peer, "this broker is not in a cluster");
		return;
	}
	if (elog_raftwire_open(&rd, body, len, &err) < 0) {
		drop_warn(b, c->peer, "%s", err.msg);
		return;
	}
	if (rd.from == k->self || rd.to != k->self ||
	    !elog_cluster_find(&b->config.cluster, rd.from)) {
		drop_warn(b, c->peer, "from broker %d to %d: not a peer of broker %d", rd.from, rd.to,
			  k->self);
		return;
	}
	if (k->auth && !(c->raft_authed && c->raft_from == rd.from) && authenticate(k, c, &rd) < 0)
		return;
	c->raft_peer = 1;
	peer_find(k, rd.from)->heard = 1;
	while ((rc = elog_raftwire_next(&rd, &m, &err)) == 1) {
		struct raft_group *g = raft_group_of(k, &m.group);
		struct elog_raft_outbox *o;
		if (m.leader_hint) {
			leader_hint(k, &m);
			continue;
		}
		if (m.is_hello)
			continue; /* checked above, or no secret here */
		if (m.leaving) {
			peer_leaving(k, rd.from);
			continue;
		}
		if (!g)
			continue; /* a topic not created here yet, or gone */
		if (m.msg.type == ELOG_RAFT_MSG_TIMEOUT_NOW && k->transferring)
			continue; /* shutting down: a leadership offered now would be handed on */
		if (m.msg.type == ELOG_RAFT_MSG_APPEND) {
			uint32_t n = append_batches(k, &m, c->peer);
			if (n == UINT32_MAX)
				continue;
			m.msg.append.batches = k->batches;
			m.msg.append.batch_count = n;
			k->batch_bytes = m.batches;
		}
		if (empty_behind(g, &m.msg)) {
			g->restricted_empty = 1;
			g->empty = 0;
			if (g == k->meta)
				k->replaced = 1;
			o = raft_outbox_take(k);
			elog_raft_restrict(&g->raft, ELOG_RAFT_RESTRICT_UNCLEAN,
					   elog_partlog_start_offset(g->log), o);
			raft_outbox_done(g, o);
		}
		o = raft_outbox_take(k);
		if (elog_raft_step(&g->raft, &m.msg, o, &err) < 0)
			drop_warn(b, c->peer, "%s message: %s", elog_raft_msg_type_name(m.msg.type),
				  err.msg);
		raft_outbox_done(g, o);
	}
	if (rc < 0)
		drop_warn(b, c->peer, "%s", err.msg);
}
