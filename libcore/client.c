/* client — broker list, metadata cache, synchronous calls and administration; see client.h. */
#include "client.h"
#include "client_int.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "crc32c.h"

/* ------------------------------------------------------------ errors */

enum elog_errcode elog_client_errcode(int proto_error)
{
	switch (proto_error) {
	case ELOG_PE_NONE:
		return ELOG_OK;
	case ELOG_PE_OFFSET_OUT_OF_RANGE:
		return ELOG_E_RANGE;
	case ELOG_PE_CORRUPT_BATCH:
		return ELOG_E_CORRUPT;
	case ELOG_PE_BATCH_TOO_LARGE:
	case ELOG_PE_FRAME_TOO_LARGE:
	case ELOG_PE_RESOURCE_LIMIT:
		return ELOG_E_LIMIT;
	case ELOG_PE_STORAGE_ERROR:
	case ELOG_PE_UNKNOWN_SERVER_ERROR:
		return ELOG_E_FAILED;
	case ELOG_PE_DATA_DAMAGED:
		return ELOG_E_DAMAGED;
	case ELOG_PE_STORAGE_FULL:
		return ELOG_E_NOSPACE;
	case ELOG_PE_TIMEOUT:
	case ELOG_PE_SHUTTING_DOWN:
		return ELOG_E_IO;
	default:
		return ELOG_E_INVAL;
	}
}

int elog_client_err_proto(struct elog_err *err, int proto_error, const char *msg, size_t msg_len,
			  const char *fmt, ...)
{
	char what[ELOG_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (msg_len > 200)
		msg_len = 200;
	if (msg_len)
		return elog_err_set(err, elog_client_errcode(proto_error), "%s: %.*s", what, (int)msg_len, msg);
	return elog_err_set(err, elog_client_errcode(proto_error), "%s: %s", what,
			    elog_proto_error_text(proto_error));
}

/* ------------------------------------------------------------ client */

void elog_client_config_init(struct elog_client_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->brokers = NULL;
	cfg->connect_timeout_ms = ELOG_CONNECT_TIMEOUT_DEFAULT_MS;
	cfg->request_timeout_ms = 30000;
	cfg->frame_bytes_max = ELOG_FRAME_BYTES_DEFAULT;
	cfg->retry_backoff_ms = 50;
	cfg->retry_backoff_max_ms = 1000;
}

struct elog_client *elog_client_new(const struct elog_client_config *cfg, struct elog_err *err)
{
	struct elog_client *c = calloc(1, sizeof(*c));
	const char *list;

	if (!c) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a client");
		return NULL;
	}
	if (cfg)
		c->config = *cfg;
	else
		elog_client_config_init(&c->config);
	if (c->config.connect_timeout_ms <= 0)
		c->config.connect_timeout_ms = ELOG_CONNECT_TIMEOUT_DEFAULT_MS;
	if (c->config.request_timeout_ms <= 0)
		c->config.request_timeout_ms = 30000;
	/* A connect never waits longer than the whole call may. */
	if (c->config.connect_timeout_ms > c->config.request_timeout_ms)
		c->config.connect_timeout_ms = c->config.request_timeout_ms;
	if (c->config.frame_bytes_max < 1024 || c->config.frame_bytes_max > ELOG_FRAME_BYTES_HARD_MAX)
		c->config.frame_bytes_max = ELOG_FRAME_BYTES_DEFAULT;
	if (!c->config.retry_backoff_ms)
		c->config.retry_backoff_ms = 50;
	if (c->config.retry_backoff_max_ms < c->config.retry_backoff_ms)
		c->config.retry_backoff_max_ms = c->config.retry_backoff_ms;
	list = elog_brokers_choose(c->config.brokers);
	c->brokers_text = strdup(list);
	if (!c->brokers_text) {
		free(c);
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for a client");
		return NULL;
	}
	c->config.brokers = c->brokers_text;
	if (elog_brokers_parse(list, c->bootstrap, ELOG_BROKERS_MAX, &c->bootstrap_count, err) < 0) {
		free(c->brokers_text);
		free(c);
		return NULL;
	}
	c->md.controller_id = -1;
	elog_response_init(&c->resp, c->config.frame_bytes_max);
	return c;
}

void elog_client_free(struct elog_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->conn_count; i++) {
		elog_conn_release(&c->conns[i]->conn);
		free(c->conns[i]);
	}
	elog_metadata_release(&c->md);
	elog_response_release(&c->resp);
	free(c->brokers_text);
	free(c);
}

const struct elog_client_config *elog_client_config(const struct elog_client *c)
{
	return &c->config;
}

void elog_client_set_request_timeout(struct elog_client *c, int ms)
{
	if (ms <= 0)
		return;
	c->config.request_timeout_ms = ms;
	if (c->config.connect_timeout_ms > ms)
		c->config.connect_timeout_ms = ms;
}

int elog_client_proto_error(const struct elog_client *c)
{
	return c->last_proto_error;
}

void elog_client_conn_config(const struct elog_client *c, struct elog_conn_config *cfg)
{
	elog_conn_config_init(cfg);
	cfg->connect_timeout_ms = c->config.connect_timeout_ms;
	cfg->frame_bytes_max = c->config.frame_bytes_max;
}

const struct elog_meta_broker *elog_client_broker(const struct elog_client *c, int32_t id)
{
	return elog_metadata_broker(&c->md, id);
}

static struct elog_client_conn *client_conn_find(const struct elog_client *c,
						 const struct elog_broker_addr *addr)
{
	for (size_t i = 0; i < c->conn_count; i++)
		if (c->conns[i]->addr.port == addr->port && strcmp(c->conns[i]->addr.host, addr->host) == 0)
			return c->conns[i];
	return NULL;
}

/* A connect to addr failed lately: other brokers are tried first. */
static int client_addr_failing(const struct elog_client *c, const struct elog_broker_addr *addr,
			       int64_t now)
{
	const struct elog_client_conn *cc = client_conn_find(c, addr);
	return cc && cc->retry_at_ms > now;
}

/* addr failed (a connect, or a call timed out or lost): try it last for a while. */
static void client_addr_failed(struct elog_client *c, const struct elog_broker_addr *addr)
{
	struct elog_client_conn *cc = client_conn_find(c, addr);

	if (cc)
		cc->retry_at_ms = elog_clock_ms() +
				  elog_backoff_ms(cc->failures++, c->config.retry_backoff_ms,
						  c->config.retry_backoff_max_ms, elog_client_random());
}

static void client_addr_answered(struct elog_client *c, const struct elog_broker_addr *addr)
{
	struct elog_client_conn *cc = client_conn_find(c, addr);

	if (cc) {
		cc->failures = 0;
		cc->retry_at_ms = 0;
	}
}

static struct elog_client_conn *client_conn_get(struct elog_client *c,
						const struct elog_broker_addr *addr,
						struct elog_err *err)
{
	struct elog_client_conn *cc = client_conn_find(c, addr);
	struct elog_conn_config cfg;

	if (!cc) {
		if (c->conn_count == ELOG_CLIENT_CONNS_MAX) {
			/* Bounded: drop the oldest idle connection. */
			elog_conn_release(&c->conns[0]->conn);
			free(c->conns[0]);
			memmove(&c->conns[0], &c->conns[1], (c->conn_count - 1) * sizeof(c->conns[0]));
			c->conn_count--;
		}
		cc = calloc(1, sizeof(*cc));
		if (!cc) {
			elog_err_set(err, ELOG_E_NOMEM, "out of memory for a connection");
			return NULL;
		}
		cc->addr = *addr;
		elog_client_conn_config(c, &cfg);
		cfg.in_flight_max = 4;
		elog_conn_init(&cc->conn, &cfg);
		c->conns[c->conn_count++] = cc;
	}
	if (!elog_conn_is_open(&cc->conn)) {
		if (elog_conn_connect(&cc->conn, addr->host, addr->port, err) < 0) {
			client_addr_failed(c, addr);
			return NULL;
		}
		cc->failures = 0;
		cc->retry_at_ms = 0;
	}
	return cc;
}

int elog_client_call_addr(struct elog_client *c, const struct elog_broker_addr *addr, uint16_t api,
			  elog_client_encode_fn *encode, const void *arg, struct elog_wire_r *r,
			  int16_t *code, const char **msg, size_t *msg_len, struct elog_err *err)
{
	struct elog_client_conn *cc = client_conn_get(c, addr, err);
	struct elog_wire_w w;
	uint32_t cid;
	int rc, timeout_ms = c->config.request_timeout_ms;

	if (!cc)
		return -1;
	/* METADATA, DESCRIBE_TOPICS and INIT_PRODUCER are cheap for a live
	 * broker and safe to ask again (an unanswered INIT_PRODUCER wastes an
	 * id, nothing else): one that sits on them (stopped, cut off) is given
	 * up sooner, and the next broker (or the new controller) asked. */
	if ((api == ELOG_API_METADATA || api == ELOG_API_DESCRIBE_TOPICS ||
	     api == ELOG_API_INIT_PRODUCER) &&
	    timeout_ms / 2 > c->config.connect_timeout_ms)
		timeout_ms = 2 * c->config.connect_timeout_ms;
	if (elog_conn_request_begin(&cc->conn, &w, api, &cid, err) < 0)
		return -1;
	if (encode)
		encode(&w, arg);
	if (elog_conn_request_end(&cc->conn, &w, 1, cid, timeout_ms, err) < 0)
		return -1;
	for (;;) {
		rc = elog_conn_recv(&cc->conn, &c->resp, err);
		if (rc < 0)
			return elog_err_prefix(err, "%s", elog_api_name(api)) , -1;
		if (rc > 0) {
			if (c->resp.correlation_id != cid)
				continue; /* a late answer to an abandoned call */
			break;
		}
		if (elog_conn_wait(&cc->conn, -1, err) < 0)
			return -1;
	}
	elog_wire_r_init(r, c->resp.body, c->resp.body_len);
	*code = elog_wire_get_response_error(r, msg, msg_len);
	if (r->failed) {
		elog_conn_close(&cc->conn);
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: malformed %s response", cc->conn.name,
				    elog_api_name(api));
	}
	return 0;
}

/* ------------------------------------------------------------ metadata */

void elog_metadata_release(struct elog_metadata *md)
{
	for (uint32_t i = 0; i < md->topic_count; i++) {
		struct elog_meta_topic *t = &md->topics[i];
		for (uint32_t j = 0; j < t->partition_count; j++) {
			free(t->partitions[j].replicas);
			free(t->partitions[j].isr);
		}
		free(t->partitions);
		free(t->name);
	}
	free(md->topics);
	free(md->brokers);
	memset(md, 0, sizeof(*md));
	md->controller_id = -1;
}

const struct elog_meta_topic *elog_metadata_topic(const struct elog_metadata *md, const char *name)
{
	for (uint32_t i = 0; i < md->topic_count; i++)
		if (strcmp(md->topics[i].name, name) == 0)
			return &md->topics[i];
	return NULL;
}

const struct elog_meta_broker *elog_metadata_broker(const struct elog_metadata *md, int32_t id)
{
	for (uint32_t i = 0; i < md->broker_count; i++)
		if (md->brokers[i].id == id)
			return &md->brokers[i];
	return NULL;
}

void elog_encode_metadata(struct elog_wire_w *w, const void *arg)
{
	const struct elog_metadata_request *req = arg;

	elog_wire_put_u32(w, (uint32_t)req->count);
	for (size_t i = 0; i < req->count; i++)
		elog_wire_put_cstring(w, req->topics[i]);
	elog_wire_put_u8(w, req->allow_auto_create ? 1 : 0);
}

static char *span_dup(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

static int32_t *get_i32_array(struct elog_wire_r *r, uint32_t *count, int *nomem)
{
	uint32_t n = elog_wire_get_count(r, 4);
	int32_t *a;

	*count = 0;
	if (r->failed || n == 0)
		return NULL;
	a = malloc(n * sizeof(*a));
	if (!a) {
		*nomem = 1;
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++)
		a[i] = elog_wire_get_i32(r);
	*count = n;
	return a;
}

static int partition_cmp(const void *a, const void *b)
{
	const struct elog_meta_partition *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int elog_metadata_decode(struct elog_wire_r *r, struct elog_metadata *md, struct elog_err *err)
{
	int nomem = 0;
	uint32_t n;

	memset(md, 0, sizeof(*md));
	elog_wire_r_field(r, "controller_id");
	md->controller_id = elog_wire_get_i32(r);
	elog_wire_r_field(r, "brokers");
	n = elog_wire_get_count(r, 4 + 2 + 2);
	if (n && !(md->brokers = calloc(n, sizeof(*md->brokers))))
		nomem = 1;
	for (uint32_t i = 0; i < n && !nomem && !r->failed; i++) {
		struct elog_meta_broker *b = &md->brokers[i];
		const char *host;
		size_t host_len;

		elog_wire_r_field(r, "broker");
		b->id = elog_wire_get_i32(r);
		elog_wire_get_string(r, &host, &host_len);
		b->port = elog_wire_get_u16(r);
		if (host_len > ELOG_HOST_MAX)
			host_len = ELOG_HOST_MAX;
		memcpy(b->host, host, host_len);
		b->host[host_len] = '\0';
		md->broker_count = i + 1;
	}
	elog_wire_r_field(r, "topics");
	n = elog_wire_get_count(r, 2 + 2 + 4);
	if (n && !nomem && !(md->topics = calloc(n, sizeof(*md->topics))))
		nomem = 1;
	for (uint32_t i = 0; i < n && !nomem && !r->failed; i++) {
		struct elog_meta_topic *t = &md->topics[i];
		const char *name;
		size_t name_len;
		uint32_t pn;

		md->topic_count = i + 1;
		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &name_len);
		if (!(t->name = span_dup(name, name_len))) {
			nomem = 1;
			break;
		}
		elog_wire_r_field(r, "topic error_code");
		t->error = elog_wire_get_i16(r);
		elog_wire_r_field(r, "partitions");
		pn = elog_wire_get_count(r, 4 + 2 + 4 + 8 + 4 + 4);
		if (pn && !(t->partitions = calloc(pn, sizeof(*t->partitions)))) {
			nomem = 1;
			break;
		}
		for (uint32_t j = 0; j < pn && !r->failed; j++) {
			struct elog_meta_partition *p = &t->partitions[j];
			t->partition_count = j + 1;
			elog_wire_r_field(r, "partition");
			p->id = elog_wire_get_u32(r);
			p->error = elog_wire_get_i16(r);
			p->leader_id = elog_wire_get_i32(r);
			p->leader_term = elog_wire_get_i64(r);
			elog_wire_r_field(r, "replicas");
			p->replicas = get_i32_array(r, &p->replica_count, &nomem);
			elog_wire_r_field(r, "in_sync_replicas");
			p->isr = get_i32_array(r, &p->isr_count, &nomem);
		}
		if (t->partition_count > 1)
			qsort(t->partitions, t->partition_count, sizeof(*t->partitions), partition_cmp);
	}
	if (nomem) {
		elog_metadata_release(md);
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for metadata");
	}
	if (elog_wire_r_end(r, err) < 0) {
		elog_metadata_release(md);
		return elog_err_prefix(err, "METADATA response");
	}
	return 0;
}

/* Merge fresh metadata into the cache: fresh topics replace cached ones. */
static void metadata_merge(struct elog_metadata *cache, struct elog_metadata *fresh, int all)
{
	if (!all) {
		for (uint32_t i = 0; i < cache->topic_count; i++) {
			struct elog_meta_topic *t = &cache->topics[i];
			struct elog_meta_topic *grown;
			if (!t->name || elog_metadata_topic(fresh, t->name))
				continue;
			grown = realloc(fresh->topics, (fresh->topic_count + 1) * sizeof(*grown));
			if (!grown)
				break; /* the cache just forgets it */
			fresh->topics = grown;
			fresh->topics[fresh->topic_count++] = *t;
			memset(t, 0, sizeof(*t)); /* moved */
		}
	}
	elog_metadata_release(cache);
	*cache = *fresh;
	memset(fresh, 0, sizeof(*fresh));
}

static int addr_equal(const struct elog_broker_addr *a, const struct elog_broker_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static size_t candidate_add(struct elog_broker_addr *out, size_t n, size_t max,
			    const struct elog_broker_addr *a)
{
	for (size_t j = 0; j < n; j++)
		if (addr_equal(a, &out[j]))
			return n;
	if (n < max)
		out[n++] = *a;
	return n;
}

/*
 * Candidate addresses for METADATA: the broker that answered last, then the
 * bootstrap list, then brokers known from metadata; those whose connect
 * failed lately go last (still tried: a restarted broker comes back), so a
 * dead bootstrap broker costs one connect timeout, not one per refresh.
 */
static size_t client_candidates(const struct elog_client *c, struct elog_broker_addr *out, size_t max)
{
	struct elog_broker_addr all[2 * ELOG_BROKERS_MAX];
	size_t n = 0, count = 0;
	int64_t now = elog_clock_ms();

	if (c->has_last_good)
		n = candidate_add(all, n, 2 * ELOG_BROKERS_MAX, &c->last_good);
	for (size_t i = 0; i < c->bootstrap_count; i++)
		n = candidate_add(all, n, 2 * ELOG_BROKERS_MAX, &c->bootstrap[i]);
	for (uint32_t i = 0; i < c->md.broker_count; i++) {
		struct elog_broker_addr a;
		snprintf(a.host, sizeof(a.host), "%s", c->md.brokers[i].host);
		a.port = c->md.brokers[i].port;
		n = candidate_add(all, n, 2 * ELOG_BROKERS_MAX, &a);
	}
	for (int failing = 0; failing < 2; failing++)
		for (size_t i = 0; i < n; i++)
			if (client_addr_failing(c, &all[i], now) == failing && count < max)
				out[count++] = all[i];
	assert(count <= n);
	return count;
}

/* Whether md (answered by from) names a topic UNKNOWN_TOPIC while its
 * controller is another broker; *ctl is then the controller's address. */
static int missing_elsewhere(const struct elog_metadata *md, const struct elog_broker_addr *from,
			     struct elog_broker_addr *ctl)
{
	int missing = 0;

	for (uint32_t i = 0; i < md->topic_count; i++)
		missing |= md->topics[i].error == ELOG_PE_UNKNOWN_TOPIC;
	if (!missing || md->broker_count < 2)
		return 0;
	for (uint32_t i = 0; i < md->broker_count; i++) {
		const struct elog_meta_broker *b = &md->brokers[i];
		if (b->id != md->controller_id)
			continue;
		if (b->port == from->port && strcmp(b->host, from->host) == 0)
			return 0;
		snprintf(ctl->host, sizeof(ctl->host), "%s", b->host);
		ctl->port = b->port;
		return 1;
	}
	return 0;
}

static const struct elog_metadata *client_metadata(struct elog_client *c, const char *const *topics,
						   size_t n, int allow_auto_create, struct elog_err *err)
{
	struct elog_broker_addr cand[2 * ELOG_BROKERS_MAX];
	struct elog_metadata_request req = {topics, n, allow_auto_create};
	struct elog_err first;
	size_t count = client_candidates(c, cand, 2 * ELOG_BROKERS_MAX);
	const struct elog_meta_broker *ctl = allow_auto_create ? elog_client_broker(c, c->md.controller_id)
							       : NULL;
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	uint32_t attempt = 0;
	struct elog_broker_addr ctl_addr;
	int asked_controller = 0;

	/* Topics are created by the controller: ask it first. */
	if (ctl && count > 0) {
		memmove(cand + 1, cand, (count < 2 * ELOG_BROKERS_MAX ? count : count - 1) * sizeof(cand[0]));
		snprintf(cand[0].host, sizeof(cand[0].host), "%s", ctl->host);
		cand[0].port = ctl->port;
		if (count < 2 * ELOG_BROKERS_MAX)
			count++;
	}
	elog_err_clear(&first);
	c->last_proto_error = 0;
	for (;;) {
		int retriable = 0;
		for (size_t i = 0; i < count; i++) {
			struct elog_metadata fresh;
			struct elog_wire_r r;
			struct elog_err e;
			const char *msg;
			size_t msg_len;
			int16_t code;

			if (elog_client_call_addr(c, &cand[i], ELOG_API_METADATA, elog_encode_metadata, &req,
						  &r, &code, &msg, &msg_len, &e) < 0) {
				if (!first.msg[0])
					first = e;
				client_addr_failed(c, &cand[i]);
				continue;
			}
			if (code) {
				c->last_proto_error = code;
				if (!first.msg[0])
					elog_client_err_proto(&first, code, msg, msg_len, "metadata from %s:%u",
							      cand[i].host, (unsigned)cand[i].port);
				retriable |= elog_proto_error_retriable(code);
				continue;
			}
			if (elog_metadata_decode(&r, &fresh, &e) < 0) {
				if (!first.msg[0])
					elog_err_prefix(&e, "%s:%u", cand[i].host, (unsigned)cand[i].port), first = e;
				continue;
			}
			c->last_proto_error = 0;
			c->last_good = cand[i];
			c->has_last_good = 1;
			client_addr_answered(c, &cand[i]);
			/* In a cluster a broker learns of a new topic once the
			 * create is committed and applied there, a moment after
			 * the controller: before "no such topic", ask it. */
			if (!asked_controller && missing_elsewhere(&fresh, &cand[i], &ctl_addr)) {
				asked_controller = 1;
				elog_metadata_release(&fresh);
				cand[i] = ctl_addr;
				i--;
				continue;
			}
			metadata_merge(&c->md, &fresh, n == 0);
			return &c->md;
		}
		/* Only a broker-side retriable state (shutting down, ...) is worth waiting for;
		 * nobody listening is reported at once. */
		if (!retriable || elog_clock_ms() >= deadline)
			break;
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
	}
	if (err)
		*err = first;
	return NULL;
}

const struct elog_metadata *elog_client_metadata(struct elog_client *c, const char *const *topics,
						 size_t n, struct elog_err *err)
{
	return client_metadata(c, topics, n, 0, err);
}

const struct elog_metadata *elog_client_metadata_create(struct elog_client *c,
							const char *const *topics, size_t n,
							struct elog_err *err)
{
	return client_metadata(c, topics, n, 1, err);
}

/* ------------------------------------------------------------ administration */

struct admin_request {
	const char *name;
	uint32_t partitions;
	uint16_t replication_factor;
	const struct elog_config_entry *configs;
	size_t config_count;
	const char *const *names;
	size_t name_count;
};

static void put_configs(struct elog_wire_w *w, const struct elog_config_entry *cfg, size_t n)
{
	elog_wire_put_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		elog_wire_put_cstring(w, cfg[i].key);
		elog_wire_put_cstring(w, cfg[i].value);
	}
}

static void encode_create(struct elog_wire_w *w, const void *arg)
{
	const struct admin_request *a = arg;
	elog_wire_put_cstring(w, a->name);
	elog_wire_put_u32(w, a->partitions);
	elog_wire_put_u16(w, a->replication_factor);
	put_configs(w, a->configs, a->config_count);
}

static void encode_delete(struct elog_wire_w *w, const void *arg)
{
	const struct admin_request *a = arg;
	elog_wire_put_cstring(w, a->name);
}

static void encode_alter(struct elog_wire_w *w, const void *arg)
{
	const struct admin_request *a = arg;
	elog_wire_put_cstring(w, a->name);
	elog_wire_put_u32(w, a->partitions);
	put_configs(w, a->configs, a->config_count);
}

static void encode_describe(struct elog_wire_w *w, const void *arg)
{
	const struct admin_request *a = arg;
	elog_wire_put_u32(w, (uint32_t)a->name_count);
	for (size_t i = 0; i < a->name_count; i++)
		elog_wire_put_cstring(w, a->names[i]);
}

/* The controller's address: from metadata when known, else the broker that
 * answered metadata last, else the first bootstrap broker. */
static void controller_addr(struct elog_client *c, struct elog_broker_addr *out)
{
	const struct elog_meta_broker *b = elog_client_broker(c, c->md.controller_id);

	if (b) {
		snprintf(out->host, sizeof(out->host), "%s", b->host);
		out->port = b->port;
	} else if (c->has_last_good) {
		*out = c->last_good;
	} else {
		*out = c->bootstrap[0];
	}
}

/*
 * One administrative call to the controller, retried on retriable broker
 * errors (NOT_LEADER: the controller moved) and on lost connections until
 * the request timeout, refreshing metadata before each retry. A refused or
 * timed-out connect is retried only while another broker still answers
 * METADATA (the controller died and another takes over); when none does,
 * the call fails at once with the connect's reason. what names the call
 * for messages. On success r is positioned after the top-level error.
 */
static int admin_call(struct elog_client *c, uint16_t api, elog_client_encode_fn *encode,
		      const void *arg, struct elog_wire_r *r, const char *what, struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	uint32_t attempt = 0;

	c->last_proto_error = 0;
	c->admin_in_doubt = 0;
	if (c->md.controller_id < 0 && !elog_client_metadata(c, NULL, 0, err))
		return elog_err_prefix(err, "%s", what);
	for (;;) {
		struct elog_broker_addr addr;
		const char *msg;
		size_t msg_len;
		int16_t code;
		int lost = 0;

		controller_addr(c, &addr);
		if (elog_client_call_addr(c, &addr, api, encode, arg, r, &code, &msg, &msg_len, err) < 0) {
			/* A connection lost mid-call is retried; a connect that failed is
			 * retried while some broker answers metadata. */
			if (strstr(err->msg, "cannot connect") &&
			    !elog_client_metadata(c, NULL, 0, NULL))
				return elog_err_prefix(err, "%s", what);
			lost = 1;
			if (!strstr(err->msg, "cannot connect"))
				c->admin_in_doubt = 1; /* sent, maybe applied */
		} else if (code) {
			c->last_proto_error = code;
			elog_client_err_proto(err, code, msg, msg_len, "%s", what);
			if (!elog_proto_error_retriable(code))
				return -1;
			/* A change proposed and then not answered in time, or by a
			 * controller that lost its place (it names the new one, or
			 * none yet), may still commit. */
			if (code == ELOG_PE_TIMEOUT || code == ELOG_PE_NOT_LEADER ||
			    code == ELOG_PE_LEADER_UNKNOWN || code == ELOG_PE_SHUTTING_DOWN)
				c->admin_in_doubt = 1;
		} else {
			return 0;
		}
		if (elog_clock_ms() >= deadline)
			return lost ? elog_err_prefix(err, "%s", what) : -1;
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
		(void)elog_client_metadata(c, NULL, 0, NULL);
	}
}

static int admin_simple(struct elog_client *c, uint16_t api, elog_client_encode_fn *encode,
			const struct admin_request *a, const char *verb, struct elog_err *err)
{
	struct elog_wire_r r;
	char what[ELOG_TOPIC_NAME_MAX + 64];

	snprintf(what, sizeof(what), "%s topic '%s'", verb, a->name);
	if (elog_topic_name_check(a->name, strlen(a->name), 1, err) < 0)
		return elog_err_prefix(err, "%s", what);
	if (admin_call(c, api, encode, a, &r, what, err) < 0)
		return -1;
	if (elog_wire_r_end(&r, err) < 0)
		return elog_err_prefix(err, "%s: response", what);
	return 0;
}

/* A retried create found its topic: whether it is the one asked for (an
 * earlier attempt of ours, committed unanswered), by partitions and
 * replicas, as far as the request said them. */
static int created_as_asked(struct elog_client *c, const char *name, uint32_t partitions,
			    uint16_t replication_factor)
{
	const char *names[1] = {name};
	struct elog_topic_descriptions d;
	struct elog_err e;
	int same = 0;

	if (elog_admin_describe_topics(c, names, 1, &d, &e) < 0)
		return 0;
	if (d.count == 1 && !d.topics[0].error &&
	    (!partitions || d.topics[0].partition_count == partitions)) {
		same = 1;
		for (size_t i = 0; replication_factor && i < d.topics[0].partition_desc_count; i++)
			if (d.topics[0].partitions[i].replica_count != replication_factor)
				same = 0;
	}
	elog_topic_descriptions_release(&d);
	return same;
}

int elog_admin_create_topic(struct elog_client *c, const char *name, uint32_t partitions,
			    uint16_t replication_factor, const struct elog_config_entry *configs,
			    size_t config_count, struct elog_err *err)
{
	struct admin_request a = {.name = name, .partitions = partitions,
				  .replication_factor = replication_factor,
				  .configs = configs, .config_count = config_count};

	if (admin_simple(c, ELOG_API_CREATE_TOPIC, encode_create, &a, "create", err) == 0)
		return 0;
	/* "Exists" after an attempt that may have been applied unanswered: ours,
	 * when it is what we asked for (not a claim that nobody else made it). */
	if (c->last_proto_error == ELOG_PE_TOPIC_EXISTS && c->admin_in_doubt) {
		struct elog_err exists = *err;
		if (created_as_asked(c, name, partitions, replication_factor)) {
			c->last_proto_error = 0;
			return 0;
		}
		/* The describe's calls reset these: the answer is still "exists". */
		*err = exists;
		c->last_proto_error = ELOG_PE_TOPIC_EXISTS;
	}
	return -1;
}

int elog_admin_delete_topic(struct elog_client *c, const char *name, struct elog_err *err)
{
	struct admin_request a = {.name = name};

	if (admin_simple(c, ELOG_API_DELETE_TOPIC, encode_delete, &a, "delete", err) == 0)
		return 0;
	/* "No such topic" after an attempt that may have been applied: gone, as asked. */
	if (c->last_proto_error == ELOG_PE_UNKNOWN_TOPIC && c->admin_in_doubt) {
		c->last_proto_error = 0;
		return 0;
	}
	return -1;
}

int elog_admin_alter_topic(struct elog_client *c, const char *name, uint32_t partitions,
			   const struct elog_config_entry *configs, size_t config_count,
			   struct elog_err *err)
{
	struct admin_request a = {.name = name, .partitions = partitions,
				  .configs = configs, .config_count = config_count};
	return admin_simple(c, ELOG_API_ALTER_TOPIC, encode_alter, &a, "alter", err);
}

void elog_topic_descriptions_release(struct elog_topic_descriptions *d)
{
	for (size_t i = 0; i < d->count; i++) {
		struct elog_topic_description *t = &d->topics[i];
		for (size_t j = 0; j < t->config_count; j++) {
			free(t->configs[j].key);
			free(t->configs[j].value);
		}
		free(t->configs);
		for (size_t j = 0; j < t->partition_desc_count; j++) {
			free(t->partitions[j].status_detail);
			free(t->partitions[j].replicas);
		}
		free(t->partitions);
		free(t->name);
	}
	free(d->topics);
	d->topics = NULL;
	d->count = 0;
}

const char *elog_partition_state_name(uint8_t status)
{
	switch (status) {
	case ELOG_PARTITION_STATE_OK:
		return "ok";
	case ELOG_PARTITION_STATE_DAMAGED:
		return "damaged";
	case ELOG_PARTITION_STATE_FAILED:
		return "failed";
	case ELOG_PARTITION_STATE_UNAVAILABLE:
		return "unavailable";
	default:
		return "unknown";
	}
}

/* DESCRIBE_TOPICS v3: leader, term and replicas of one partition; -1 out of memory. */
static int describe_decode_route(struct elog_wire_r *r, struct elog_partition_description *p)
{
	uint32_t n;

	elog_wire_r_field(r, "partition leader");
	p->leader_id = elog_wire_get_i32(r);
	p->leader_term = elog_wire_get_u64(r);
	elog_wire_r_field(r, "replicas");
	n = elog_wire_get_count(r, 4 + 1 + 8 + 8);
	if (r->failed || n == 0)
		return 0;
	p->replicas = calloc(n, sizeof(*p->replicas));
	if (!p->replicas)
		return -1;
	for (uint32_t k = 0; k < n && !r->failed; k++) {
		struct elog_replica_description *d = &p->replicas[k];
		elog_wire_r_field(r, "replica");
		d->id = elog_wire_get_i32(r);
		d->in_sync = elog_wire_get_u8(r);
		d->end_offset = elog_wire_get_i64(r);
		d->lag = elog_wire_get_i64(r);
		p->replica_count = k + 1;
	}
	return 0;
}

int elog_describe_decode(struct elog_wire_r *r, uint16_t version, struct elog_topic_descriptions *out,
			 struct elog_err *err)
{
	int nomem = 0;
	uint32_t n;

	out->count = 0;
	out->topics = NULL;
	elog_wire_r_field(r, "topics");
	n = elog_wire_get_count(r, 2 + 2 + 4 + 4 + 4);
	if (n && !(out->topics = calloc(n, sizeof(*out->topics))))
		nomem = 1;
	for (uint32_t i = 0; i < n && !nomem && !r->failed; i++) {
		struct elog_topic_description *t = &out->topics[i];
		const char *s;
		size_t len;
		uint32_t cn, pn;

		out->count = i + 1;
		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &s, &len);
		if (!(t->name = span_dup(s, len))) {
			nomem = 1;
			break;
		}
		elog_wire_r_field(r, "topic error_code");
		t->error = elog_wire_get_i16(r);
		elog_wire_r_field(r, "partition_count");
		t->partition_count = elog_wire_get_u32(r);
		elog_wire_r_field(r, "configs");
		cn = elog_wire_get_count(r, 4);
		if (cn && !(t->configs = calloc(cn, sizeof(*t->configs)))) {
			nomem = 1;
			break;
		}
		for (uint32_t j = 0; j < cn && !r->failed; j++) {
			const char *k, *v;
			size_t kl, vl;
			elog_wire_r_field(r, "config");
			elog_wire_get_string(r, &k, &kl);
			elog_wire_get_string(r, &v, &vl);
			t->configs[j].key = span_dup(k, kl);
			t->configs[j].value = span_dup(v, vl);
			t->config_count = j + 1;
			if (!t->configs[j].key || !t->configs[j].value) {
				nomem = 1;
				break;
			}
		}
		elog_wire_r_field(r, "partitions");
		pn = elog_wire_get_count(r, 4 + 8 + 8 + 8 + 4 + (version >= 2 ? 1 + 2 : 0) +
					(version >= 3 ? 4 + 8 + 4 : 0));
		if (pn && !nomem && !(t->partitions = calloc(pn, sizeof(*t->partitions)))) {
			nomem = 1;
			break;
		}
		for (uint32_t j = 0; j < pn && !nomem && !r->failed; j++) {
			struct elog_partition_description *p = &t->partitions[j];
			elog_wire_r_field(r, "partition");
			p->id = elog_wire_get_u32(r);
			p->log_start_offset = elog_wire_get_i64(r);
			p->high_watermark = elog_wire_get_i64(r);
			p->size_bytes = elog_wire_get_u64(r);
			p->segments = elog_wire_get_u32(r);
			t->partition_desc_count = j + 1;
			if (version >= 2) {
				const char *d;
				size_t dl;
				elog_wire_r_field(r, "partition status");
				p->status = elog_wire_get_u8(r);
				elog_wire_get_string(r, &d, &dl);
				if (dl && !r->failed && !(p->status_detail = span_dup(d, dl)))
					nomem = 1;
			}
			p->leader_id = -1;
			if (version >= 3 && !nomem && describe_decode_route(r, p) < 0)
				nomem = 1;
		}
	}
	if (nomem) {
		elog_topic_descriptions_release(out);
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory for topic descriptions");
	}
	if (elog_wire_r_end(r, err) < 0) {
		elog_topic_descriptions_release(out);
		return elog_err_prefix(err, "DESCRIBE_TOPICS response");
	}
	return 0;
}

/*
 * In a cluster the controller describes from its own replicas: a partition
 * it does not lead shows the controller's copy (behind the leader's, or
 * empty where it holds no replica) and no in-sync set, which only the
 * leader knows. So each partition led elsewhere is described again by its
 * leader, one request per leader, and its row replaced by the leader's
 * own (kept when that broker no longer says it leads, or does not answer:
 * the controller's row is better than none).
 */
static void describe_from_leaders(struct elog_client *c, int32_t answered_by,
				  struct elog_topic_descriptions *out)
{
	int32_t done[ELOG_BROKERS_MAX];
	uint32_t done_count = 0;

	for (size_t ti = 0; ti < out->count; ti++) {
		for (size_t pi = 0; pi < out->topics[ti].partition_desc_count; pi++) {
			int32_t leader = out->topics[ti].partitions[pi].leader_id;
			const struct elog_meta_broker *mb = elog_client_broker(c, leader);
			struct admin_request a = {.names = NULL, .name_count = 0};
			struct elog_topic_descriptions fresh;
			struct elog_broker_addr addr;
			struct elog_wire_r r;
			struct elog_err e;
			const char *msg;
			size_t msg_len;
			int16_t code;
			int seen = 0;

			if (leader < 0 || leader == answered_by || !mb)
				continue;
			for (uint32_t k = 0; k < done_count; k++)
				seen |= done[k] == leader;
			if (seen || done_count == ELOG_BROKERS_MAX)
				continue;
			done[done_count++] = leader;
			/* Every topic of the answer that has a partition led there. */
			const char **all = calloc(out->count, sizeof(*all));

			if (!all)
				return;
			for (size_t tj = 0; tj < out->count; tj++)
				for (size_t pj = 0; pj < out->topics[tj].partition_desc_count; pj++)
					if (out->topics[tj].partitions[pj].leader_id == leader) {
						all[a.name_count++] = out->topics[tj].name;
						break;
					}
			a.names = all;
			snprintf(addr.host, sizeof(addr.host), "%s", mb->host);
			addr.port = mb->port;
			if (elog_client_call_addr(c, &addr, ELOG_API_DESCRIBE_TOPICS, encode_describe, &a, &r,
						  &code, &msg, &msg_len, &e) < 0 || code ||
			    elog_describe_decode(&r, elog_api_version_max(ELOG_API_DESCRIBE_TOPICS), &fresh,
						 &e) < 0) {
				free(all);
				continue;
			}
			free(all);
			for (size_t fi = 0; fi < fresh.count; fi++) {
				struct elog_topic_description *ft = &fresh.topics[fi];
				struct elog_topic_description *ot = NULL;
				for (size_t tj = 0; tj < out->count && !ot; tj++)
					if (ft->name && out->topics[tj].name &&
					    strcmp(ft->name, out->topics[tj].name) == 0)
						ot = &out->topics[tj];
				for (size_t fj = 0; ot && fj < ft->partition_desc_count; fj++) {
					struct elog_partition_description *fp = &ft->partitions[fj], tmp;
					for (size_t pj = 0; pj < ot->partition_desc_count; pj++) {
						struct elog_partition_description *op = &ot->partitions[pj];
						if (op->id != fp->id || op->leader_id != leader ||
						    fp->leader_id != leader)
							continue;
						/* Swap: the leader's row in, the old one freed with fresh. */
						tmp = *op;
						*op = *fp;
						*fp = tmp;
					}
				}
			}
			elog_topic_descriptions_release(&fresh);
		}
	}
}

int elog_admin_describe_topics(struct elog_client *c, const char *const *names, size_t n,
			       struct elog_topic_descriptions *out, struct elog_err *err)
{
	struct admin_request a = {.names = names, .name_count = n};
	struct elog_wire_r r;

	out->count = 0;
	out->topics = NULL;
	if (admin_call(c, ELOG_API_DESCRIBE_TOPICS, encode_describe, &a, &r, "describe topics", err) < 0)
		return -1;
	if (elog_describe_decode(&r, elog_api_version_max(ELOG_API_DESCRIBE_TOPICS), out, err) < 0)
		return -1;
	if (c->md.broker_count > 1)
		describe_from_leaders(c, c->md.controller_id, out);
	return 0;
}

int elog_client_init_producer(struct elog_client *c, int64_t *producer_id, int16_t *epoch,
			      struct elog_err *err)
{
	struct elog_wire_r r;

	if (admin_call(c, ELOG_API_INIT_PRODUCER, NULL, NULL, &r, "init producer", err) < 0)
		return -1;
	elog_wire_r_field(&r, "producer_id");
	*producer_id = elog_wire_get_i64(&r);
	elog_wire_r_field(&r, "producer_epoch");
	*epoch = elog_wire_get_i16(&r);
	if (elog_wire_r_end(&r, err) < 0)
		return elog_err_prefix(err, "INIT_PRODUCER response");
	if (*producer_id < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "init producer: broker returned producer id %lld",
				    (long long)*producer_id);
	return 0;
}

/* ------------------------------------------------------------ list offsets */

void elog_encode_list_offsets(struct elog_wire_w *w, const void *arg)
{
	const struct elog_list_offsets_request *q = arg;

	elog_wire_put_u32(w, 1);
	elog_wire_put_cstring(w, q->topic);
	elog_wire_put_u32(w, (uint32_t)q->count);
	for (size_t i = 0; i < q->count; i++) {
		elog_wire_put_u32(w, q->partitions[q->index[i]]);
		elog_wire_put_i64(w, q->timestamps[q->index[i]]);
	}
}

/* Apply one LIST_OFFSETS response; *retry set when a partition had a retriable error. */
static int list_offsets_apply(struct elog_client *c, struct elog_wire_r *r, const char *topic,
			      const uint32_t *partitions, const size_t *index, size_t count,
			      int64_t *offsets, uint8_t *done, int *retry, struct elog_err *err)
{
	uint32_t tn;

	elog_wire_r_field(r, "topics");
	tn = elog_wire_get_count(r, 2 + 4);
	for (uint32_t t = 0; t < tn && !r->failed; t++) {
		const char *name;
		size_t name_len;
		uint32_t rn;

		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &name_len);
		elog_wire_r_field(r, "results");
		rn = elog_wire_get_count(r, 4 + 2 + 2 + 8);
		for (uint32_t k = 0; k < rn && !r->failed; k++) {
			const char *msg;
			size_t msg_len;
			uint32_t id;
			int16_t code;
			int64_t off;

			elog_wire_r_field(r, "result");
			id = elog_wire_get_u32(r);
			code = elog_wire_get_i16(r);
			elog_wire_get_string(r, &msg, &msg_len);
			off = elog_wire_get_i64(r);
			if (r->failed)
				break;
			/* A result answers the first open query of its partition (the same
			 * partition may be asked several times, e.g. earliest and latest). */
			for (size_t i = 0; i < count; i++) {
				size_t q = index[i];
				if (partitions[q] != id || done[q])
					continue;
				if (code == 0) {
					offsets[q] = off;
					done[q] = 1;
					break;
				} else if (elog_proto_error_retriable(code)) {
					done[q] = 2; /* answered, not done: asked again next round */
					c->last_proto_error = code;
					elog_client_err_proto(err, code, msg, msg_len,
							      "list offsets of '%s' partition %u", topic, id);
					*retry = 1;
					break;
				} else {
					c->last_proto_error = code;
					return elog_client_err_proto(err, code, msg, msg_len,
								     "list offsets of '%s' partition %u",
								     topic, id);
				}
			}
		}
	}
	if (elog_wire_r_end(r, err) < 0)
		return elog_err_prefix(err, "LIST_OFFSETS response");
	return 0;
}

int elog_client_list_offsets(struct elog_client *c, const char *topic, const uint32_t *partitions,
			     const int64_t *timestamps, int64_t *offsets, size_t n,
			     struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	uint8_t *done = calloc(n ? n : 1, 1);
	size_t *index = malloc((n ? n : 1) * sizeof(*index));
	uint32_t attempt = 0;
	int rc = -1;

	c->last_proto_error = 0;
	if (!done || !index) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory for list offsets");
		goto out;
	}
	for (;;) {
		const struct elog_meta_topic *t;
		int retry = 0;
		size_t left = 0;

		if (!elog_client_metadata(c, &topic, 1, err)) {
			elog_err_prefix(err, "list offsets of '%s'", topic);
			goto out;
		}
		t = elog_metadata_topic(&c->md, topic);
		if (!t || t->error) {
			int code = t ? t->error : ELOG_PE_UNKNOWN_TOPIC;
			c->last_proto_error = code;
			elog_client_err_proto(err, code, NULL, 0, "list offsets of '%s'", topic);
			if (!elog_proto_error_retriable(code))
				goto out;
			retry = 1;
		}
		/* One request per leader, for the queries still open. */
		for (size_t i = 0; i < n && !retry; i++) {
			const struct elog_meta_partition *p = NULL;
			const struct elog_meta_broker *b;
			struct elog_list_offsets_request q;
			struct elog_broker_addr addr;
			struct elog_wire_r r;
			const char *msg;
			size_t msg_len, cnt = 0;
			int16_t code;

			if (done[i])
				continue;
			for (uint32_t j = 0; j < t->partition_count; j++)
				if (t->partitions[j].id == partitions[i])
					p = &t->partitions[j];
			if (!p) {
				c->last_proto_error = ELOG_PE_UNKNOWN_PARTITION;
				elog_err_set(err, ELOG_E_INVAL, "list offsets of '%s' partition %u: no such partition",
					     topic, partitions[i]);
				goto out;
			}
			b = elog_client_broker(c, p->leader_id);
			if (!b) {
				elog_err_set(err, ELOG_E_IO, "list offsets of '%s' partition %u: no leader",
					     topic, partitions[i]);
				retry = 1;
				break;
			}
			/* Every open query whose partition this broker leads. */
			for (size_t k = i; k < n; k++) {
				if (done[k])
					continue;
				for (uint32_t j = 0; j < t->partition_count; j++)
					if (t->partitions[j].id == partitions[k] &&
					    t->partitions[j].leader_id == p->leader_id)
						index[cnt++] = k;
			}
			q = (struct elog_list_offsets_request){topic, partitions, timestamps, index, cnt};
			snprintf(addr.host, sizeof(addr.host), "%s", b->host);
			addr.port = b->port;
			if (elog_client_call_addr(c, &addr, ELOG_API_LIST_OFFSETS, elog_encode_list_offsets, &q,
						  &r, &code, &msg, &msg_len, err) < 0) {
				retry = 1;
				break;
			}
			if (code) {
				c->last_proto_error = code;
				elog_client_err_proto(err, code, msg, msg_len, "list offsets of '%s'", topic);
				if (!elog_proto_error_retriable(code))
					goto out;
				retry = 1;
				break;
			}
			if (list_offsets_apply(c, &r, topic, partitions, index, cnt, offsets, done, &retry,
					       err) < 0)
				goto out;
			/* A query the broker did not answer is an error, not a silent gap. */
			for (size_t k = 0; k < cnt; k++)
				if (done[index[k]] == 2)
					done[index[k]] = 0;
				else if (!done[index[k]] && !retry) {
					elog_err_set(err, ELOG_E_CORRUPT,
						     "list offsets of '%s' partition %u: no answer from %s:%u",
						     topic, partitions[index[k]], addr.host, (unsigned)addr.port);
					goto out;
				}
		}
		for (size_t i = 0; i < n; i++)
			left += !done[i];
		if (!left) {
			rc = 0;
			goto out;
		}
		if (elog_clock_ms() >= deadline)
			goto out;
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
	}
out:
	free(done);
	free(index);
	return rc;
}

/* ------------------------------------------------------------ delete records */

struct delete_records_request {
	const char *topic;
	const struct elog_purge_partition *parts;
	const size_t *index;           /* the partitions of this request: index[0..count) */
	size_t count;
	int dry_run;
	uint32_t timeout_ms;
};

static void encode_delete_records(struct elog_wire_w *w, const void *arg)
{
	const struct delete_records_request *q = arg;

	elog_wire_put_u32(w, q->timeout_ms);
	elog_wire_put_u8(w, q->dry_run ? 1 : 0);
	elog_wire_put_u32(w, 1);
	elog_wire_put_cstring(w, q->topic);
	elog_wire_put_u32(w, (uint32_t)q->count);
	for (size_t i = 0; i < q->count; i++) {
		elog_wire_put_u32(w, q->parts[q->index[i]].partition);
		elog_wire_put_i64(w, q->parts[q->index[i]].offset);
	}
}

/* Partition state during elog_admin_delete_records. */
enum { PURGE_OPEN = 0, PURGE_DONE = 1, PURGE_AGAIN = 2 };

/* One result: into the first open partition of the request with its id. */
static void delete_records_result(struct elog_client *c, const char *topic,
				  struct elog_purge_partition *parts, const size_t *index,
				  size_t count, uint8_t *state, uint32_t id, int16_t code,
				  const char *msg, size_t msg_len, int64_t before, int64_t after,
				  int *retry, struct elog_err *err)
{
	for (size_t i = 0; i < count; i++) {
		struct elog_purge_partition *p = &parts[index[i]];
		struct elog_err why;
		if (p->partition != id || state[index[i]] != PURGE_OPEN)
			continue;
		if (code == 0) {
			p->start_before = before;
			p->start = after;
			state[index[i]] = PURGE_DONE;
			return;
		}
		c->last_proto_error = code;
		elog_client_err_proto(&why, code, msg, msg_len, "purge topic '%s' partition %u", topic,
				      id);
		if (elog_proto_error_retriable(code)) {
			*err = why;
			*retry = 1;
			state[index[i]] = PURGE_AGAIN; /* answered, not done: asked again next round */
			return;
		}
		p->error = code;
		memcpy(p->message, why.msg, sizeof(p->message));
		state[index[i]] = PURGE_DONE;
		return;
	}
}

/* Apply one DELETE_RECORDS response to the partitions it carried. */
static int delete_records_apply(struct elog_client *c, struct elog_wire_r *r, const char *topic,
				struct elog_purge_partition *parts, const size_t *index,
				size_t count, uint8_t *state, int *retry, struct elog_err *err)
{
	uint32_t tn;

	elog_wire_r_field(r, "topics");
	tn = elog_wire_get_count(r, 2 + 4);
	for (uint32_t t = 0; t < tn && !r->failed; t++) {
		const char *name;
		size_t name_len;
		uint32_t rn;

		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &name, &name_len);
		elog_wire_r_field(r, "results");
		rn = elog_wire_get_count(r, 4 + 2 + 2 + 8 + 8);
		for (uint32_t k = 0; k < rn && !r->failed; k++) {
			const char *msg;
			size_t msg_len;
			uint32_t id;
			int16_t code;
			int64_t before, after;

			elog_wire_r_field(r, "result");
			id = elog_wire_get_u32(r);
			code = elog_wire_get_i16(r);
			elog_wire_get_string(r, &msg, &msg_len);
			before = elog_wire_get_i64(r);
			after = elog_wire_get_i64(r);
			if (!r->failed)
				delete_records_result(c, topic, parts, index, count, state, id, code, msg,
						      msg_len, before, after, retry, err);
		}
	}
	if (elog_wire_r_end(r, err) < 0)
		return elog_err_prefix(err, "DELETE_RECORDS response");
	return 0;
}

/*
 * One request to the leader of parts[i], carrying every open partition it
 * leads. -1 with err for a failure of the whole call; *retry for what a
 * later round may fix.
 */
static int delete_records_round(struct elog_client *c, const char *topic,
				const struct elog_meta_topic *t, struct elog_purge_partition *parts,
				size_t n, size_t i, int dry_run, uint8_t *state, size_t *index,
				int *retry, struct elog_err *err)
{
	const struct elog_meta_partition *leader = NULL;
	const struct elog_meta_broker *b;
	struct delete_records_request q;
	struct elog_broker_addr addr;
	struct elog_wire_r r;
	const char *msg;
	size_t msg_len, count = 0;
	int16_t code;

	for (uint32_t j = 0; j < t->partition_count; j++)
		if (t->partitions[j].id == parts[i].partition)
			leader = &t->partitions[j];
	if (!leader) {
		parts[i].error = ELOG_PE_UNKNOWN_PARTITION;
		snprintf(parts[i].message, sizeof(parts[i].message),
			 "purge topic '%s' partition %u: no such partition", topic, parts[i].partition);
		state[i] = PURGE_DONE;
		return 0;
	}
	b = elog_client_broker(c, leader->leader_id);
	if (!b) {
		elog_err_set(err, ELOG_E_IO, "purge topic '%s' partition %u: no leader", topic,
			     parts[i].partition);
		*retry = 1;
		return 0;
	}
	for (size_t k = i; k < n; k++)
		for (uint32_t j = 0; j < t->partition_count && state[k] == PURGE_OPEN; j++)
			if (t->partitions[j].id == parts[k].partition &&
			    t->partitions[j].leader_id == leader->leader_id)
				index[count++] = k;
	q = (struct delete_records_request){topic, parts, index, count, dry_run,
					    (uint32_t)c->config.request_timeout_ms};
	snprintf(addr.host, sizeof(addr.host), "%s", b->host);
	addr.port = b->port;
	if (elog_client_call_addr(c, &addr, ELOG_API_DELETE_RECORDS, encode_delete_records, &q, &r,
				  &code, &msg, &msg_len, err) < 0) {
		/* A refused connect is final; a connection lost mid-call is retried. */
		if (strstr(err->msg, "cannot connect"))
			return elog_err_prefix(err, "purge topic '%s'", topic);
		*retry = 1;
		return 0;
	}
	if (code) {
		c->last_proto_error = code;
		elog_client_err_proto(err, code, msg, msg_len, "purge topic '%s'", topic);
		if (!elog_proto_error_retriable(code))
			return -1;
		*retry = 1;
		return 0;
	}
	if (delete_records_apply(c, &r, topic, parts, index, count, state, retry, err) < 0)
		return -1;
	/* A partition the broker did not answer is an error, not a silent gap. */
	for (size_t k = 0; k < count; k++) {
		if (state[index[k]] == PURGE_AGAIN)
			state[index[k]] = PURGE_OPEN;
		else if (state[index[k]] == PURGE_OPEN && !*retry)
			return elog_err_set(err, ELOG_E_CORRUPT,
					    "purge topic '%s' partition %u: no answer from %s:%u", topic,
					    parts[index[k]].partition, addr.host, (unsigned)addr.port);
	}
	return 0;
}

int elog_admin_delete_records(struct elog_client *c, const char *topic,
			      struct elog_purge_partition *parts, size_t n, int dry_run,
			      struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	uint8_t *state = calloc(n ? n : 1, 1);
	size_t *index = malloc((n ? n : 1) * sizeof(*index));
	uint32_t attempt = 0;
	int rc = -1;

	c->last_proto_error = 0;
	for (size_t i = 0; i < n; i++) {
		parts[i].start_before = parts[i].start = -1;
		parts[i].error = 0;
		parts[i].message[0] = '\0';
	}
	if (!state || !index) {
		elog_err_set(err, ELOG_E_NOMEM, "purge topic '%s': out of memory", topic);
		goto out;
	}
	/* Bounded by the deadline: every round either finishes or sleeps a backoff. */
	for (;;) {
		const struct elog_meta_topic *t;
		int retry = 0;
		size_t left = 0;

		if (!elog_client_metadata(c, &topic, 1, err)) {
			elog_err_prefix(err, "purge topic '%s'", topic);
			goto out;
		}
		t = elog_metadata_topic(&c->md, topic);
		if (!t || t->error) {
			int code = t ? t->error : ELOG_PE_UNKNOWN_TOPIC;
			c->last_proto_error = code;
			elog_client_err_proto(err, code, NULL, 0, "purge topic '%s'", topic);
			if (!elog_proto_error_retriable(code))
				goto out;
			retry = 1;
		}
		for (size_t i = 0; i < n && !retry; i++)
			if (state[i] == PURGE_OPEN &&
			    delete_records_round(c, topic, t, parts, n, i, dry_run, state, index, &retry,
						 err) < 0)
				goto out;
		for (size_t i = 0; i < n; i++)
			left += state[i] != PURGE_DONE;
		if (!left) {
			rc = 0;
			goto out;
		}
		if (elog_clock_ms() >= deadline)
			goto out;
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
	}
out:
	free(state);
	free(index);
	return rc;
}

int elog_purge_resolve(struct elog_client *c, const char *topic, const struct elog_pos *before,
		       struct elog_purge_partition *parts, size_t n, struct elog_err *err)
{
	uint32_t *ids;
	int64_t *ts, *offsets;
	int rc = -1;

	if (before->kind != ELOG_POS_FROM_END && before->kind != ELOG_POS_TIMESTAMP) {
		for (size_t i = 0; i < n; i++)
			parts[i].offset = before->kind == ELOG_POS_LATEST ? ELOG_OFFSET_LATEST
				: before->kind == ELOG_POS_OFFSET ? before->value : 0;
		return 0;
	}
	ids = calloc(n, sizeof(*ids));
	ts = calloc(n, sizeof(*ts));
	offsets = calloc(n, sizeof(*offsets));
	if (!ids || !ts || !offsets) {
		elog_err_set(err, ELOG_E_NOMEM, "purge topic '%s': out of memory", topic);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ids[i] = parts[i].partition;
		/* Before the epoch: every record is at or after it, so nothing goes. */
		ts[i] = before->kind == ELOG_POS_FROM_END ? ELOG_OFFSET_LATEST
			: before->value < 0 ? 0 : before->value;
	}
	if (elog_client_list_offsets(c, topic, ids, ts, offsets, n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		parts[i].offset = before->kind == ELOG_POS_TIMESTAMP ? offsets[i]
			: offsets[i] > before->value ? offsets[i] - before->value : 0;
	rc = 0;
out:
	free(ids);
	free(ts);
	free(offsets);
	return rc;
}

/* ------------------------------------------------------------ batches */

void elog_batch_set_producer(uint8_t *buf, size_t len, int64_t producer_id, int16_t epoch,
			     int32_t base_sequence)
{
	assert(len >= ELOG_BATCH_HEADER_SIZE);
	elog_put16(buf + 18, (uint16_t)epoch);
	elog_put64(buf + 48, (uint64_t)producer_id);
	elog_put32(buf + 56, (uint32_t)base_sequence);
	elog_put32(buf + 12, elog_crc32c(0, buf + ELOG_BATCH_CRC_START, len - ELOG_BATCH_CRC_START));
}
