/*
 * cluster — the static membership of a cluster of brokers: the list given
 * with `elog-serve --cluster 1@host:port,2@host:port,...` (config key
 * `cluster`), parsed and checked against the broker's own id and listen
 * port. No I/O.
 *
 * Rules (docs/operations.md, "Running a cluster"): ids are int32 >= 0, each
 * once; at most ELOG_CLUSTER_BROKERS_MAX (the Raft core's voter limit);
 * hosts are names or IPv4 addresses ([v6] in brackets), ports 1-65535.
 * The broker's own id must be in the list, and its entry's port must be
 * the port it listens on. An empty list (count 0) is no cluster: the
 * broker is alone, exactly as before clusters existed.
 *
 * The members are kept sorted by id, so every broker sees the same order
 * (the Raft voter list, placement).
 */
#ifndef ELOG_CLUSTER_H
#define ELOG_CLUSTER_H

#include <stdint.h>

#include "err.h"

#define ELOG_CLUSTER_BROKERS_MAX 7
#define ELOG_CLUSTER_HOST_MAX 255
/* The longest --cluster text accepted. */
#define ELOG_CLUSTER_TEXT_MAX 4096

struct elog_cluster_member {
	int32_t id;
	uint16_t port;
	char host[ELOG_CLUSTER_HOST_MAX + 1];
};

struct elog_cluster_config {
	uint32_t count;   /* 0: no cluster */
	struct elog_cluster_member members[ELOG_CLUSTER_BROKERS_MAX]; /* by id */
};

/*
 * Parse "ID@HOST:PORT,..." into *out (replacing it). ELOG_E_INVAL with a
 * one-line reason naming the entry: a bad id, host or port, an id twice,
 * more than ELOG_CLUSTER_BROKERS_MAX entries, an empty list.
 */
int elog_cluster_parse(const char *text, struct elog_cluster_config *out, struct elog_err *err);
/* Own id present, and its entry's port is the listen port. */
int elog_cluster_check(const struct elog_cluster_config *c, int32_t self, uint16_t listen_port,
		       struct elog_err *err);
/* The member with this id, or NULL. */
const struct elog_cluster_member *elog_cluster_find(const struct elog_cluster_config *c,
						    int32_t id);
/* Write the list back as text ("1@h:p,2@h:p"); always NUL-terminated. */
void elog_cluster_format(const struct elog_cluster_config *c, char *out, size_t cap);

#endif
