/*
 * client_group.c — the client's side of consumer groups' offsets
 * (docs/groups.md): finding a group's coordinator, committing offsets and
 * reading them back, each retried on the retriable answers a coordinator
 * gives while it moves or loads (NOT_COORDINATOR, COORDINATOR_LOADING,
 * NOT_LEADER, LEADER_UNKNOWN) and on lost connections, until the request
 * timeout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "client_int.h"

static void encode_group(struct elog_wire_w *w, const void *arg)
{
	elog_wire_put_cstring(w, arg);
}

/* The brokers to ask FIND_COORDINATOR: the last that answered, the
 * bootstrap list, those metadata named. */
static size_t candidates(const struct elog_client *c, struct elog_broker_addr *out, size_t cap)
{
	size_t n = 0;

	if (c->has_last_good && n < cap)
		out[n++] = c->last_good;
	for (size_t i = 0; i < c->bootstrap_count && n < cap; i++)
		out[n++] = c->bootstrap[i];
	for (uint32_t i = 0; i < c->md.broker_count && n < cap; i++) {
		snprintf(out[n].host, sizeof(out[n].host), "%s", c->md.brokers[i].host);
		out[n].port = c->md.brokers[i].port;
		n++;
	}
	return n;
}

static int retriable(int16_t code)
{
	return elog_proto_error_retriable(code);
}

/* Ask the brokers in turn which one coordinates group; once. 1 found,
 * 0 not now (retriable: err says why), -1 failed. */
static int find_once(struct elog_client *c, const char *group, struct elog_err *err)
{
	struct elog_broker_addr cand[ELOG_BROKERS_MAX * 2 + 1];
	size_t n = candidates(c, cand, sizeof(cand) / sizeof(cand[0]));
	int got_err = 0;

	for (size_t i = 0; i < n; i++) {
		struct elog_wire_r r;
		const char *msg, *host;
		size_t msg_len, host_len;
		int16_t code;
		struct elog_err e;
		if (elog_client_call_addr(c, &cand[i], ELOG_API_FIND_COORDINATOR, encode_group, group,
					  &r, &code, &msg, &msg_len, &e) < 0) {
			if (!got_err++)
				*err = e;
			continue;
		}
		if (code) {
			elog_client_err_proto(&e, code, msg, msg_len, "find the coordinator of '%s'",
					      group);
			c->last_proto_error = code;
			if (!retriable(code)) {
				*err = e;
				return -1;
			}
			if (!got_err++)
				*err = e;
			continue;
		}
		(void)elog_wire_get_u32(&r);
		(void)elog_wire_get_i32(&r);
		elog_wire_get_string(&r, &host, &host_len);
		c->coord.port = elog_wire_get_u16(&r);
		if (elog_wire_r_end(&r, &e) < 0 || host_len == 0 || host_len >= sizeof(c->coord.host)) {
			*err = e;
			return elog_err_set(err, ELOG_E_CORRUPT, "find the coordinator of '%s': bad answer",
					    group);
		}
		memcpy(c->coord.host, host, host_len);
		c->coord.host[host_len] = 0;
		snprintf(c->coord_group, sizeof(c->coord_group), "%s", group);
		c->has_coord = 1;
		return 1;
	}
	if (!got_err)
		elog_err_set(err, ELOG_E_IO, "find the coordinator of '%s': no broker to ask", group);
	return 0;
}

/*
 * One call to group's coordinator, found first when not known; retried as
 * the top of this file says. On success r is positioned after the
 * top-level error.
 */
static int group_call(struct elog_client *c, const char *group, uint16_t api,
		      elog_client_encode_fn *encode, const void *arg, struct elog_wire_r *r,
		      const char *what, struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	uint32_t attempt = 0;

	c->last_proto_error = 0;
	if (c->has_coord && strcmp(c->coord_group, group) != 0)
		c->has_coord = 0;
	for (;;) {
		const char *msg;
		size_t msg_len;
		int16_t code;
		int rc = c->has_coord ? 1 : find_once(c, group, err);
		if (rc < 0)
			return elog_err_prefix(err, "%s", what);
		if (rc == 1) {
			if (elog_client_call_addr(c, &c->coord, api, encode, arg, r, &code, &msg, &msg_len,
						  err) < 0) {
				c->has_coord = 0;
			} else if (code) {
				c->last_proto_error = code;
				elog_client_err_proto(err, code, msg, msg_len, "%s", what);
				if (!retriable(code))
					return -1;
				if (code != ELOG_PE_COORDINATOR_LOADING)
					c->has_coord = 0;
			} else {
				return 0;
			}
		}
		if (elog_clock_ms() >= deadline)
			return elog_err_prefix(err, "%s", what);
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
		(void)elog_client_metadata(c, NULL, 0, NULL);
	}
}

/* ------------------------------------------------------------ commit */

struct commit_request {
	const char *group;
	const char *member;            /* "" standalone */
	int32_t epoch;                 /* -1 standalone */
	const struct elog_offset_commit *entries;
	size_t n;
	uint32_t timeout_ms;
};

/* One topic entry per run of entries naming the same topic. */
static void encode_commit(struct elog_wire_w *w, const void *arg)
{
	const struct commit_request *q = arg;
	uint32_t topics = 0;

	elog_wire_put_cstring(w, q->group);
	elog_wire_put_cstring(w, q->member);
	elog_wire_put_i32(w, q->epoch);
	elog_wire_put_u32(w, q->timeout_ms);
	for (size_t i = 0; i < q->n; i++)
		topics += i == 0 || strcmp(q->entries[i - 1].topic, q->entries[i].topic) != 0;
	elog_wire_put_u32(w, topics);
	for (size_t i = 0; i < q->n;) {
		size_t j = i;
		while (j < q->n && strcmp(q->entries[j].topic, q->entries[i].topic) == 0)
			j++;
		elog_wire_put_cstring(w, q->entries[i].topic);
		elog_wire_put_u32(w, (uint32_t)(j - i));
		for (; i < j; i++) {
			elog_wire_put_u32(w, q->entries[i].partition);
			elog_wire_put_i64(w, q->entries[i].offset);
			elog_wire_put_i64(w, q->entries[i].high_watermark);
			elog_wire_put_cstring(w, q->entries[i].metadata ? q->entries[i].metadata : "");
		}
	}
}

static int commit_chunk(struct elog_client *c, const char *group, const char *member,
			int32_t epoch, struct elog_offset_commit *entries, size_t n,
			struct elog_err *err)
{
	struct commit_request q = {group, member, epoch, entries, n,
				   (uint32_t)c->config.request_timeout_ms};
	char what[300];
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	uint32_t attempt = 0;

	snprintf(what, sizeof(what), "commit offsets of group '%.255s'", group);
	for (;;) {
		struct elog_wire_r r;
		int again = 0, failed = 0;
		size_t at = 0;
		if (group_call(c, group, ELOG_API_OFFSET_COMMIT, encode_commit, &q, &r, what, err) < 0)
			return -1;
		for (uint32_t t = elog_wire_get_count(&r, 6), i = 0; i < t && !r.failed; i++) {
			const char *name, *msg;
			size_t len, msg_len;
			elog_wire_get_string(&r, &name, &len);
			for (uint32_t k = 0, np = elog_wire_get_count(&r, 8); k < np && !r.failed; k++) {
				struct elog_offset_commit *e = at < n ? &entries[at] : NULL;
				uint32_t id = elog_wire_get_u32(&r);
				int16_t code = elog_wire_get_i16(&r);
				elog_wire_get_string(&r, &msg, &msg_len);
				at++;
				if (!e || e->partition != id)
					continue;
				e->error = code;
				snprintf(e->message, sizeof(e->message), "%.*s",
					 (int)(msg_len < 200 ? msg_len : 200), msg);
				if (code && retriable(code))
					again = 1;
				else if (code && !failed++ && (c->last_proto_error = code))
					elog_client_err_proto(err, code, msg, msg_len,
							      "%s: %s partition %u", what, e->topic, id);
			}
		}
		if (elog_wire_r_end(&r, err) < 0 || at != n)
			return elog_err_set(err, ELOG_E_CORRUPT, "%s: bad answer", what);
		if (failed)
			return -1;
		if (!again)
			return 0;
		/* The commit moved or timed out: all of it again (a commit is an
		 * idempotent write of the same offsets). */
		c->has_coord = 0;
		if (elog_clock_ms() >= deadline)
			return elog_err_set(err, ELOG_E_IO, "%s: not committed in time", what);
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
	}
}

int elog_client_commit_offsets(struct elog_client *c, const char *group,
			       struct elog_offset_commit *entries, size_t n, struct elog_err *err)
{
	return elog_client_commit_member(c, group, "", -1, entries, n, err);
}

int elog_client_commit_member(struct elog_client *c, const char *group, const char *member_id,
			      int32_t epoch, struct elog_offset_commit *entries, size_t n,
			      struct elog_err *err)
{
	/* The broker takes at most ELOG_COMMIT_PARTITIONS_MAX a request: more
	 * go in several, each committed whole or refused per partition. */
	for (size_t at = 0; at < n || at == 0; at += ELOG_COMMIT_PARTITIONS_MAX) {
		size_t k = n - at < ELOG_COMMIT_PARTITIONS_MAX ? n - at : ELOG_COMMIT_PARTITIONS_MAX;
		if (commit_chunk(c, group, member_id, epoch, entries + at, k, err) < 0)
			return -1;
		if (n == 0)
			break;
	}
	return 0;
}

/* ------------------------------------------------------------ fetch */

struct fetch_request {
	const char *group;
	const char *member;            /* "" anyone */
	int32_t epoch;
	const char *topic;             /* NULL: every commit of the group */
	const uint32_t *partitions;
	size_t n;
};

static void encode_fetch(struct elog_wire_w *w, const void *arg)
{
	const struct fetch_request *q = arg;

	elog_wire_put_cstring(w, q->group);
	elog_wire_put_cstring(w, q->member);
	elog_wire_put_i32(w, q->epoch);
	if (!q->topic) {
		elog_wire_put_u32(w, 0);
		return;
	}
	elog_wire_put_u32(w, 1);
	elog_wire_put_cstring(w, q->topic);
	elog_wire_put_u32(w, (uint32_t)q->n);
	for (size_t i = 0; i < q->n; i++)
		elog_wire_put_u32(w, q->partitions[i]);
}

void elog_committed_release(struct elog_committed_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].topic);
		free(l->items[i].metadata);
	}
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static char *dup_span(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = 0;
	}
	return p;
}

int elog_client_fetch_offsets(struct elog_client *c, const char *group, const char *topic,
			      const uint32_t *partitions, size_t n, struct elog_committed_list *out,
			      struct elog_err *err)
{
	return elog_client_fetch_offsets_member(c, group, "", -1, topic, partitions, n, out, err);
}

int elog_client_fetch_offsets_member(struct elog_client *c, const char *group,
				     const char *member_id, int32_t epoch, const char *topic,
				     const uint32_t *partitions, size_t n,
				     struct elog_committed_list *out, struct elog_err *err)
{
	struct fetch_request q = {group, member_id, epoch, topic, partitions, n};
	struct elog_wire_r r;
	char what[300];

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "read the offsets of group '%.255s'", group);
	if (group_call(c, group, ELOG_API_OFFSET_FETCH, encode_fetch, &q, &r, what, err) < 0)
		return -1;
	for (uint32_t t = elog_wire_get_count(&r, 6), i = 0; i < t && !r.failed; i++) {
		const char *name;
		size_t len;
		uint32_t np;
		struct elog_committed *grown;
		elog_wire_get_string(&r, &name, &len);
		np = elog_wire_get_count(&r, 4 + 2 + 2 + 24 + 2 + 4);
		if (r.failed || !np)
			continue;
		grown = realloc(out->items, (out->count + np) * sizeof(*grown));
		if (!grown) {
			elog_committed_release(out);
			return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", what);
		}
		out->items = grown;
		for (uint32_t k = 0; k < np && !r.failed; k++) {
			struct elog_committed *e = &out->items[out->count];
			const char *msg, *meta;
			size_t msg_len, meta_len;
			int16_t code;
			memset(e, 0, sizeof(*e));
			e->partition = elog_wire_get_u32(&r);
			code = elog_wire_get_i16(&r);
			elog_wire_get_string(&r, &msg, &msg_len);
			e->offset = elog_wire_get_i64(&r);
			e->commit_time_ms = elog_wire_get_i64(&r);
			e->high_watermark = elog_wire_get_i64(&r);
			elog_wire_get_string(&r, &meta, &meta_len);
			e->window_count = elog_wire_get_count(&r, 24);
			for (uint32_t j = 0; j < e->window_count && !r.failed; j++)
				for (int f = 0; f < 3; f++) {
					int64_t v = elog_wire_get_i64(&r);
					if (j < ELOG_COMMIT_WINDOW_MAX)
						e->window[j][f] = v;
				}
			if (e->window_count > ELOG_COMMIT_WINDOW_MAX)
				e->window_count = ELOG_COMMIT_WINDOW_MAX;
			e->topic = dup_span(name, len);
			e->metadata = dup_span(meta, meta_len);
			out->count++;
			if (!e->topic || !e->metadata) {
				elog_committed_release(out);
				return elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", what);
			}
			if (code) {
				elog_client_err_proto(err, code, msg, msg_len, "%s: %.*s partition %u",
						      what, (int)len, name, e->partition);
				elog_committed_release(out);
				return -1;
			}
		}
	}
	if (elog_wire_r_end(&r, err) < 0) {
		elog_committed_release(out);
		return elog_err_prefix(err, "%s: bad answer", what);
	}
	return 0;
}

/* ------------------------------------------------------------ list */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void elog_group_names_release(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Ask broker addr for its groups: names appended to *names, the
 * partitions it covered marked in covered[0..parts). 0, or -1 (err). */
static int list_at(struct elog_client *c, const struct elog_broker_addr *addr, char ***names,
		   size_t *n, size_t *cap, uint8_t **covered, uint32_t *parts, struct elog_err *err)
{
	struct elog_wire_r r;
	const char *msg;
	size_t msg_len;
	int16_t code;
	uint32_t total, k;

	if (elog_client_call_addr(c, addr, ELOG_API_LIST_GROUPS, NULL, NULL, &r, &code, &msg,
				  &msg_len, err) < 0)
		return -1;
	if (code)
		return elog_client_err_proto(err, code, msg, msg_len, "list groups at %s:%u",
					     addr->host, (unsigned)addr->port);
	total = elog_wire_get_u32(&r);
	if (!r.failed && total > *parts) {
		uint8_t *grown = realloc(*covered, total);
		if (!grown)
			return elog_err_set(err, ELOG_E_NOMEM, "list groups: out of memory");
		memset(grown + *parts, 0, total - *parts);
		*covered = grown;
		*parts = total;
	}
	for (uint32_t i = 0, m = elog_wire_get_count(&r, 4); i < m && !r.failed; i++) {
		uint32_t p = elog_wire_get_u32(&r);
		if (p < *parts)
			(*covered)[p] = 1;
	}
	k = elog_wire_get_count(&r, 2);
	for (uint32_t j = 0; j < k && !r.failed; j++) {
		const char *s;
		size_t len;
		elog_wire_get_string(&r, &s, &len);
		if (r.failed)
			break;
		if (*n == *cap) {
			size_t grow = *cap ? *cap * 2 : 64;
			char **grown = realloc(*names, grow * sizeof(**names));
			if (!grown)
				return elog_err_set(err, ELOG_E_NOMEM, "list groups: out of memory");
			*names = grown;
			*cap = grow;
		}
		if (!((*names)[*n] = dup_span(s, len)))
			return elog_err_set(err, ELOG_E_NOMEM, "list groups: out of memory");
		(*n)++;
	}
	if (elog_wire_r_end(&r, err) < 0)
		return elog_err_prefix(err, "list groups at %s:%u: bad answer", addr->host,
				       (unsigned)addr->port);
	return 0;
}

int elog_client_list_groups(struct elog_client *c, char ***names_out, size_t *count,
			    struct elog_err *err)
{
	int64_t deadline = elog_clock_ms() + c->config.request_timeout_ms;
	char **names = NULL;
	uint8_t *covered = NULL;
	size_t n = 0, cap = 0;
	uint32_t parts = 0, attempt = 0;
	int rc = -1;

	*names_out = NULL;
	*count = 0;
	/*
	 * Every broker lists the groups of the __groups partitions it leads;
	 * the list is whole once every partition was covered, whichever
	 * brokers did not answer (a dead one leads nothing). Until then, or
	 * the timeout, the brokers are asked again.
	 */
	for (;;) {
		const struct elog_metadata *md = elog_client_metadata(c, NULL, 0, err);
		struct elog_err first;
		uint32_t missing = 0;
		int failed = 0;
		if (!md)
			goto out;
		elog_group_names_release(names, n);
		names = NULL;
		n = cap = 0;
		if (covered)
			memset(covered, 0, parts);
		for (uint32_t i = 0; i < md->broker_count; i++) {
			struct elog_broker_addr a;
			struct elog_err e;
			snprintf(a.host, sizeof(a.host), "%s", md->brokers[i].host);
			a.port = md->brokers[i].port;
			if (list_at(c, &a, &names, &n, &cap, &covered, &parts, &e) < 0) {
				if (e.code == ELOG_E_NOMEM) {
					*err = e;
					goto out;
				}
				if (!failed++)
					first = e;
			}
		}
		for (uint32_t p = 0; p < parts; p++)
			missing += !covered[p];
		if (!missing && (parts || !failed))
			break;
		if (elog_clock_ms() >= deadline) {
			if (failed)
				*err = first;
			else
				elog_err_set(err, ELOG_E_IO, "%u partitions of __groups have no leader "
					     "that answered", missing);
			elog_err_prefix(err, "list groups");
			goto out;
		}
		usleep(1000u * elog_backoff_ms(attempt++, c->config.retry_backoff_ms,
					       c->config.retry_backoff_max_ms, elog_client_random()));
	}
	if (n)
		qsort(names, n, sizeof(*names), str_cmp);
	/* A group whose partition moved between two answers may be named twice. */
	if (n > 1) {
		size_t w = 1;
		for (size_t i = 1; i < n; i++) {
			if (strcmp(names[i], names[w - 1]) == 0)
				free(names[i]);
			else
				names[w++] = names[i];
		}
		n = w;
	}
	rc = 0;
out:
	free(covered);
	if (rc < 0) {
		elog_group_names_release(names, n);
		return -1;
	}
	*names_out = names;
	*count = n;
	return 0;
}

/* ------------------------------------------------------------ heartbeat */

static void put_tps(struct elog_wire_w *w, const struct elog_group_tp *tps, size_t n)
{
	uint32_t topics = 0;

	for (size_t i = 0; i < n; i++)
		topics += i == 0 || strcmp(tps[i - 1].topic, tps[i].topic) != 0;
	elog_wire_put_u32(w, topics);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && strcmp(tps[j].topic, tps[i].topic) == 0)
			j++;
		elog_wire_put_cstring(w, tps[i].topic);
		elog_wire_put_u32(w, (uint32_t)(j - i));
		for (; i < j; i++)
			elog_wire_put_u32(w, tps[i].partition);
	}
}

static void encode_heartbeat(struct elog_wire_w *w, const void *arg)
{
	const struct elog_group_heartbeat *hb = arg;

	elog_wire_put_cstring(w, hb->group);
	elog_wire_put_cstring(w, hb->member_id);
	elog_wire_put_cstring(w, hb->instance_id ? hb->instance_id : "");
	elog_wire_put_cstring(w, hb->client_id ? hb->client_id : "");
	elog_wire_put_i32(w, hb->epoch);
	elog_wire_put_u32(w, hb->session_timeout_ms);
	elog_wire_put_cstring(w, hb->assignor ? hb->assignor : "");
	elog_wire_put_u32(w, (uint32_t)hb->topic_count);
	for (size_t i = 0; i < hb->topic_count; i++)
		elog_wire_put_cstring(w, hb->topics[i]);
	put_tps(w, hb->owned, hb->owned_count);
}

void elog_group_tps_release(struct elog_group_tp *tps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tps[i].topic);
	free(tps);
}

static int tp_cmp(const void *a, const void *b)
{
	const struct elog_group_tp *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* A list of (topic, partitions) into *out (allocated, sorted). */
static int get_tps(struct elog_wire_r *r, struct elog_group_tp **out, size_t *count,
		   struct elog_err *err)
{
	struct elog_group_tp *tps = NULL;
	size_t n = 0;
	uint32_t topics = elog_wire_get_count(r, 6);

	for (uint32_t i = 0; i < topics && !r->failed; i++) {
		const char *name;
		size_t len;
		uint32_t np;
		elog_wire_get_string(r, &name, &len);
		np = elog_wire_get_count(r, 4);
		if (np && !r->failed) {
			struct elog_group_tp *grown = realloc(tps, (n + np) * sizeof(*tps));
			if (!grown)
				goto nomem;
			tps = grown;
		}
		for (uint32_t k = 0; k < np && !r->failed; k++) {
			tps[n].partition = elog_wire_get_u32(r);
			if (!(tps[n].topic = malloc(len + 1)))
				goto nomem;
			memcpy(tps[n].topic, name, len);
			tps[n].topic[len] = 0;
			n++;
		}
	}
	if (n)
		qsort(tps, n, sizeof(*tps), tp_cmp);
	*out = tps;
	*count = n;
	return 0;
nomem:
	elog_group_tps_release(tps, n);
	return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
}

int elog_client_group_heartbeat(struct elog_client *c, struct elog_group_heartbeat *hb,
				struct elog_err *err)
{
	struct elog_wire_r r;
	struct elog_group_tp *tps = NULL;
	const char *id;
	size_t id_len, n = 0;
	char what[300];

	elog_group_tps_release(hb->assignment, hb->assignment_count);
	hb->assignment = NULL;
	hb->assignment_count = 0;
	hb->assigned = 0;
	snprintf(what, sizeof(what), "heartbeat to group '%.255s'", hb->group);
	if (group_call(c, hb->group, ELOG_API_GROUP_HEARTBEAT, encode_heartbeat, hb, &r, what,
		       err) < 0)
		return -1;
	elog_wire_get_string(&r, &id, &id_len);
	hb->epoch = elog_wire_get_i32(&r);
	hb->interval_ms = elog_wire_get_u32(&r);
	hb->assigned = elog_wire_get_u8(&r) != 0;
	if (hb->assigned) {
		if (get_tps(&r, &tps, &n, err) < 0)
			return -1;
		hb->waiting = elog_wire_get_u32(&r);
	}
	if (elog_wire_r_end(&r, err) < 0 || id_len >= sizeof(hb->member_id)) {
		elog_group_tps_release(tps, n);
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: bad answer", what);
	}
	memcpy(hb->member_id, id, id_len);
	hb->member_id[id_len] = 0;
	hb->assignment = tps;
	hb->assignment_count = n;
	return 0;
}

/* ------------------------------------------------------------ describe, delete */

static char *wire_strdup(struct elog_wire_r *r)
{
	const char *s;
	size_t len;
	char *d;

	elog_wire_get_string(r, &s, &len);
	if (!(d = malloc(len + 1)))
		return NULL;
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

void elog_group_description_release(struct elog_group_description *d)
{
	for (size_t i = 0; i < d->member_count; i++) {
		struct elog_group_member_description *m = &d->members[i];
		free(m->member_id);
		free(m->instance_id);
		free(m->client_id);
		elog_group_tps_release(m->target, m->target_count);
		elog_group_tps_release(m->owned, m->owned_count);
	}
	free(d->members);
	for (size_t i = 0; i < d->offset_count; i++)
		free(d->offsets[i].topic);
	free(d->offsets);
	free(d->state);
	free(d->assignor);
	memset(d, 0, sizeof(*d));
}

int elog_client_describe_group(struct elog_client *c, const char *group,
			       struct elog_group_description *out, struct elog_err *err)
{
	struct elog_wire_r r;
	char what[300];
	uint32_t n;

	memset(out, 0, sizeof(*out));
	snprintf(what, sizeof(what), "describe group '%.255s'", group);
	if (group_call(c, group, ELOG_API_DESCRIBE_GROUP, encode_group, group, &r, what, err) < 0)
		return -1;
	out->state = wire_strdup(&r);
	out->epoch = elog_wire_get_i32(&r);
	out->assignor = wire_strdup(&r);
	n = elog_wire_get_count(&r, 2 + 2 + 2 + 4 + 4 + 8 + 4 + 4);
	if (n && !(out->members = calloc(n, sizeof(*out->members))))
		goto nomem;
	for (uint32_t i = 0; i < n && !r.failed; i++) {
		struct elog_group_member_description *m = &out->members[i];
		out->member_count++;
		m->member_id = wire_strdup(&r);
		m->instance_id = wire_strdup(&r);
		m->client_id = wire_strdup(&r);
		m->epoch = elog_wire_get_i32(&r);
		m->session_timeout_ms = elog_wire_get_u32(&r);
		m->last_heartbeat_ms = elog_wire_get_i64(&r);
		if (!m->member_id || !m->instance_id || !m->client_id ||
		    get_tps(&r, &m->target, &m->target_count, err) < 0 ||
		    get_tps(&r, &m->owned, &m->owned_count, err) < 0)
			goto nomem;
	}
	if (!out->state || !out->assignor)
		goto nomem;
	for (uint32_t t = elog_wire_get_count(&r, 6), i = 0; i < t && !r.failed; i++) {
		const char *name;
		size_t len;
		uint32_t np;
		struct elog_group_offset *grown;
		elog_wire_get_string(&r, &name, &len);
		np = elog_wire_get_count(&r, 4 + 24);
		if (r.failed || !np)
			continue;
		if (!(grown = realloc(out->offsets, (out->offset_count + np) * sizeof(*grown))))
			goto nomem;
		out->offsets = grown;
		for (uint32_t k = 0; k < np && !r.failed; k++) {
			struct elog_group_offset *o = &out->offsets[out->offset_count];
			if (!(o->topic = malloc(len + 1)))
				goto nomem;
			memcpy(o->topic, name, len);
			o->topic[len] = 0;
			o->partition = elog_wire_get_u32(&r);
			o->committed = elog_wire_get_i64(&r);
			o->high_watermark = elog_wire_get_i64(&r);
			o->lag = elog_wire_get_i64(&r);
			out->offset_count++;
		}
	}
	if (elog_wire_r_end(&r, err) < 0) {
		elog_group_description_release(out);
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: bad answer", what);
	}
	return 0;
nomem:
	elog_group_description_release(out);
	return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
}

struct delete_request {
	const char *group;
	uint32_t timeout_ms;
};

static void encode_delete(struct elog_wire_w *w, const void *arg)
{
	const struct delete_request *q = arg;

	elog_wire_put_cstring(w, q->group);
	elog_wire_put_u32(w, q->timeout_ms);
}

int elog_client_delete_group(struct elog_client *c, const char *group, uint32_t *deleted,
			     struct elog_err *err)
{
	struct delete_request q = {group, (uint32_t)c->config.request_timeout_ms};
	struct elog_wire_r r;
	char what[300];

	snprintf(what, sizeof(what), "delete group '%.255s'", group);
	if (group_call(c, group, ELOG_API_DELETE_GROUP, encode_delete, &q, &r, what, err) < 0)
		return -1;
	*deleted = elog_wire_get_u32(&r);
	if (elog_wire_r_end(&r, err) < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "%s: bad answer", what);
	return 0;
}
