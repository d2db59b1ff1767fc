/* cluster — parsing and checking a cluster's member list; see cluster.h. */
#include "cluster.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A host name or IPv4 address: letters, digits, '-', '.', '_'; or [v6]. */
static int host_ok(const char *h, size_t len, int bracketed)
{
	if (len == 0 || len > ELOG_CLUSTER_HOST_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = h[i];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			 (bracketed && ch == ':');
		if (!ok)
			return 0;
	}
	return h[0] != '-' && h[0] != '.';
}

/* One "ID@HOST:PORT" entry of len bytes. */
static int parse_member(const char *s, size_t len, struct elog_cluster_member *m,
			struct elog_err *err)
{
	char text[ELOG_CLUSTER_HOST_MAX + 32], num[16];
	const char *at, *colon, *host;
	size_t host_len;
	uint64_t v;

	if (len == 0)
		return elog_err_set(err, ELOG_E_INVAL, "empty entry");
	if (len >= sizeof(text))
		return elog_err_set(err, ELOG_E_INVAL, "entry \"%.40s...\": too long", s);
	memcpy(text, s, len);
	text[len] = 0;
	at = strchr(text, '@');
	colon = strrchr(text, ':');
	if (!at || !colon || colon < at)
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": expected ID@HOST:PORT", text);
	if ((size_t)(at - text) >= sizeof(num))
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": bad broker id", text);
	memcpy(num, text, (size_t)(at - text));
	num[at - text] = 0;
	if (elog_cli_parse_u64(num, 0, INT32_MAX, &v, NULL) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": bad broker id \"%s\"", text, num);
	m->id = (int32_t)v;
	if (elog_cli_parse_u64(colon + 1, 1, 65535, &v, NULL) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": bad port \"%s\"", text, colon + 1);
	m->port = (uint16_t)v;
	host = at + 1;
	host_len = (size_t)(colon - host);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		if (!host_ok(host + 1, host_len - 2, 1))
			return elog_err_set(err, ELOG_E_INVAL, "\"%s\": bad host", text);
		host++;
		host_len -= 2;
	} else if (!host_ok(host, host_len, 0)) {
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": bad host", text);
	}
	memcpy(m->host, host, host_len);
	m->host[host_len] = 0;
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	const struct elog_cluster_member *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int elog_cluster_parse(const char *text, struct elog_cluster_config *out, struct elog_err *err)
{
	struct elog_cluster_config c;
	const char *s = text;

	memset(&c, 0, sizeof(c));
	if (strlen(text) > ELOG_CLUSTER_TEXT_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "longer than %d bytes", ELOG_CLUSTER_TEXT_MAX);
	if (!*text)
		return elog_err_set(err, ELOG_E_INVAL, "empty broker list");
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (c.count == ELOG_CLUSTER_BROKERS_MAX)
			return elog_err_set(err, ELOG_E_INVAL, "more than %d brokers",
					    ELOG_CLUSTER_BROKERS_MAX);
		if (parse_member(s, len, &c.members[c.count], err) < 0)
			return -1;
		for (uint32_t i = 0; i < c.count; i++)
			if (c.members[i].id == c.members[c.count].id)
				return elog_err_set(err, ELOG_E_INVAL, "broker id %d given twice",
						    c.members[i].id);
		c.count++;
		if (!comma)
			break;
		s = comma + 1;
	}
	qsort(c.members, c.count, sizeof(c.members[0]), member_cmp);
	*out = c;
	return 0;
}

const struct elog_cluster_member *elog_cluster_find(const struct elog_cluster_config *c,
						    int32_t id)
{
	for (uint32_t i = 0; i < c->count; i++)
		if (c->members[i].id == id)
			return &c->members[i];
	return NULL;
}

int elog_cluster_check(const struct elog_cluster_config *c, int32_t self, uint16_t listen_port,
		       struct elog_err *err)
{
	const struct elog_cluster_member *m;

	assert(c->count <= ELOG_CLUSTER_BROKERS_MAX);
	if (c->count == 0)
		return 0;
	m = elog_cluster_find(c, self);
	if (!m)
		return elog_err_set(err, ELOG_E_INVAL, "broker id %d is not in the cluster list", self);
	if (m->port != listen_port)
		return elog_err_set(err, ELOG_E_INVAL,
				    "broker %d's cluster entry has port %u, but it listens on port %u",
				    self, m->port, listen_port);
	return 0;
}

void elog_cluster_format(const struct elog_cluster_config *c, char *out, size_t cap)
{
	size_t used = 0;

	assert(cap > 0);
	out[0] = 0;
	for (uint32_t i = 0; i < c->count && used < cap; i++) {
		const struct elog_cluster_member *m = &c->members[i];
		int v6 = strchr(m->host, ':') != NULL;
		int n = snprintf(out + used, cap - used, "%s%d@%s%s%s:%u", i ? "," : "", m->id,
				 v6 ? "[" : "", m->host, v6 ? "]" : "", m->port);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
