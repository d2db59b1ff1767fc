/* broker_config — elog-serve's configuration keys and file; see broker.h. */
#include "broker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto.h"

#define LINE_MAX_BYTES 4096
#define FILE_LINES_MAX 100000

void elog_broker_config_default(struct elog_broker_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->data_dir, sizeof(c->data_dir), "%s", ELOG_BROKER_DIR_DEFAULT);
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = ELOG_PORT_DEFAULT;
	c->broker_id = 0;
	c->max_frame_bytes = ELOG_FRAME_BYTES_DEFAULT;
	c->connection_buffer_bytes = 4u << 20;
	c->max_buffered_bytes = 64u << 20;
	c->max_connections = 1024;
	c->idle_timeout_ms = 10 * 60 * 1000;
	c->request_timeout_ms = 30 * 1000;
	c->max_inflight_per_connection = 64;
	c->max_waiting_requests = 10000;
	c->max_wait_ms = 5 * 60 * 1000;
	c->produce_timeout_max_ms = 5 * 60 * 1000;
	c->retention_check_interval_ms = 5 * 60 * 1000;
	c->compaction_interval_ms = 15 * 1000;
	c->compaction_map_bytes = 16u << 20;
	c->shutdown_timeout_ms = 10 * 1000;
	c->auto_create_topics = 1;
	c->raft_tick_ms = 50;
	c->raft_election_ticks = 10;
	c->raft_heartbeat_ticks = 1;
	c->leader_balance_interval_ms = 30 * 1000;
	c->groups_partitions = 16;
	elog_store_options_default(&c->store);
}

int elog_broker_config_listen(struct elog_broker_config *c, const char *hostport,
			      struct elog_err *err)
{
	const char *colon = strrchr(hostport, ':'), *host = hostport;
	size_t host_len;
	uint64_t port;

	if (!colon)
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": expected HOST:PORT", hostport);
	host_len = (size_t)(colon - hostport);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len > ELOG_BROKER_HOST_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": expected HOST:PORT", hostport);
	if (elog_cli_parse_u64(colon + 1, 0, 65535, &port, err) < 0)
		return elog_err_prefix(err, "\"%s\": port", hostport);
	memcpy(c->listen_host, host, host_len);
	c->listen_host[host_len] = 0;
	c->listen_port = (uint16_t)port;
	return 0;
}

static int parse_bool(const char *v, int *out, struct elog_err *err)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return elog_err_set(err, ELOG_E_INVAL, "\"%s\": expected true or false", v);
	return 0;
}

static int parse_u32(const char *v, uint64_t min, uint64_t max, uint32_t *out,
		     struct elog_err *err)
{
	uint64_t n;

	if (elog_cli_parse_u64(v, min, max, &n, err) < 0)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int parse_bytes(const char *v, uint64_t min, uint64_t max, uint64_t *out,
		       struct elog_err *err)
{
	if (elog_cli_parse_size(v, out, err) < 0)
		return -1;
	if (*out < min || *out > max)
		return elog_err_set(err, ELOG_E_INVAL, "%s is outside [%" PRIu64 ", %" PRIu64 "]", v,
				    min, max);
	return 0;
}

static int parse_duration(const char *v, int64_t min, int64_t *out, struct elog_err *err)
{
	if (elog_cli_parse_duration_ms(v, out, err) < 0)
		return -1;
	if (*out < min)
		return elog_err_set(err, ELOG_E_INVAL, "%s is shorter than %" PRId64 "ms", v, min);
	return 0;
}

static int set_size_key(struct elog_broker_config *c, const char *key, const char *v,
			struct elog_err *err)
{
	uint64_t n;

	if (strcmp(key, "max_frame_bytes") == 0) {
		if (parse_bytes(v, 1024, ELOG_FRAME_BYTES_HARD_MAX, &n, err) < 0)
			return -1;
		c->max_frame_bytes = (uint32_t)n;
		return 0;
	}
	if (strcmp(key, "connection_buffer_bytes") == 0)
		return parse_bytes(v, 1024, 1ull << 32, &c->connection_buffer_bytes, err);
	if (strcmp(key, "max_buffered_bytes") == 0)
		return parse_bytes(v, 1u << 20, 1ull << 40, &c->max_buffered_bytes, err);
	if (strcmp(key, "compaction_map_bytes") == 0)
		return parse_bytes(v, 4096, 1ull << 40, &c->compaction_map_bytes, err);
	if (strcmp(key, "min_free_bytes") == 0)
		return parse_bytes(v, 0, 1ull << 50, &c->store.min_free_bytes, err);
	return 1;
}

static int set_count_key(struct elog_broker_config *c, const char *key, const char *v,
			 struct elog_err *err)
{
	static const struct { const char *key; size_t off; uint64_t min, max; } counts[] = {
		{"max_connections", offsetof(struct elog_broker_config, max_connections), 1, 1000000},
		{"max_inflight_per_connection",
		 offsetof(struct elog_broker_config, max_inflight_per_connection), 1, 65536},
		{"max_waiting_requests", offsetof(struct elog_broker_config, max_waiting_requests), 1,
		 10000000},
		{"default.partitions", offsetof(struct elog_broker_config, store.default_partitions), 1,
		 1024},
		{"max_topics", offsetof(struct elog_broker_config, store.topics_max), 1, 1000000},
		{"max_partitions", offsetof(struct elog_broker_config, store.partitions_max), 1,
		 ELOG_STORE_PARTITIONS_LIMIT},
		{"max_producers_per_partition",
		 offsetof(struct elog_broker_config, store.producers_max), 1, 1000000},
		{"default_replication_factor",
		 offsetof(struct elog_broker_config, default_replication_factor), 1,
		 ELOG_CLUSTER_BROKERS_MAX},
		{"groups_partitions", offsetof(struct elog_broker_config, groups_partitions), 1, 1024},
		{"raft_election_ticks", offsetof(struct elog_broker_config, raft_election_ticks), 2,
		 1000},
		{"raft_heartbeat_ticks", offsetof(struct elog_broker_config, raft_heartbeat_ticks), 1,
		 999},
	};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (strcmp(key, counts[i].key) == 0)
			return parse_u32(v, counts[i].min, counts[i].max,
					 (uint32_t *)((char *)c + counts[i].off), err);
	return 1;
}

static int set_duration_key(struct elog_broker_config *c, const char *key, const char *v,
			    struct elog_err *err)
{
	static const struct { const char *key; size_t off; int64_t min; } durations[] = {
		{"idle_timeout", offsetof(struct elog_broker_config, idle_timeout_ms), 100},
		{"request_timeout", offsetof(struct elog_broker_config, request_timeout_ms), 100},
		{"max_wait", offsetof(struct elog_broker_config, max_wait_ms), 0},
		{"produce_timeout_max", offsetof(struct elog_broker_config, produce_timeout_max_ms), 0},
		{"retention_check_interval",
		 offsetof(struct elog_broker_config, retention_check_interval_ms), 100},
		{"compaction_interval", offsetof(struct elog_broker_config, compaction_interval_ms),
		 100},
		{"shutdown_timeout", offsetof(struct elog_broker_config, shutdown_timeout_ms), 0},
		{"raft_tick", offsetof(struct elog_broker_config, raft_tick_ms), 1},
		{"leader_balance_interval",
		 offsetof(struct elog_broker_config, leader_balance_interval_ms), 0},
	};

	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
		if (strcmp(key, durations[i].key) == 0)
			return parse_duration(v, durations[i].min,
					      (int64_t *)((char *)c + durations[i].off), err);
	return 1;
}

static int set_text_key(struct elog_broker_config *c, const char *key, const char *v,
			struct elog_err *err)
{
	uint64_t id;

	if (strcmp(key, "data_dir") == 0) {
		if (!*v || strlen(v) >= sizeof(c->data_dir) - 300)
			return elog_err_set(err, ELOG_E_INVAL, "empty or too long");
		snprintf(c->data_dir, sizeof(c->data_dir), "%s", v);
		return 0;
	}
	if (strcmp(key, "listen") == 0)
		return elog_broker_config_listen(c, v, err);
	if (strcmp(key, "advertise_host") == 0) {
		if (!*v || strlen(v) > ELOG_BROKER_HOST_MAX)
			return elog_err_set(err, ELOG_E_INVAL, "empty or too long");
		snprintf(c->advertise_host, sizeof(c->advertise_host), "%s", v);
		return 0;
	}
	if (strcmp(key, "broker_id") == 0) {
		if (elog_cli_parse_u64(v, 0, INT32_MAX, &id, err) < 0)
			return -1;
		c->broker_id = (int32_t)id;
		return 0;
	}
	if (strcmp(key, "auto_create_topics") == 0)
		return parse_bool(v, &c->auto_create_topics, err);
	if (strcmp(key, "cluster") == 0)
		return elog_cluster_parse(v, &c->cluster, err);
	if (strcmp(key, "cluster_secret_file") == 0) {
		if (!*v || strlen(v) >= sizeof(c->cluster_secret_file))
			return elog_err_set(err, ELOG_E_INVAL, "empty or too long");
		snprintf(c->cluster_secret_file, sizeof(c->cluster_secret_file), "%s", v);
		return 0;
	}
	return 1;
}

int elog_broker_config_set(struct elog_broker_config *c, const char *key, const char *value,
			   struct elog_err *err)
{
	int rc = set_text_key(c, key, value, err);

	if (rc == 1)
		rc = set_size_key(c, key, value, err);
	if (rc == 1)
		rc = set_count_key(c, key, value, err);
	if (rc == 1)
		rc = set_duration_key(c, key, value, err);
	if (rc == 1 && strncmp(key, "default.", 8) == 0) {
		if (elog_topic_config_set(&c->store.defaults, key + 8, value, err) < 0) {
			if (strncmp(err->msg, "unknown config key", 18) == 0)
				return elog_err_set(err, ELOG_E_INVAL, "unknown key \"%s\"", key);
			return elog_err_prefix(err, "default");
		}
		return 0;
	}
	if (rc == 1)
		return elog_err_set(err, ELOG_E_INVAL, "unknown key \"%s\"", key);
	if (rc < 0)
		return elog_err_prefix(err, "%s", key);
	return 0;
}

int elog_broker_config_check(const struct elog_broker_config *c, struct elog_err *err)
{
	if (elog_topic_config_check(&c->store.defaults, err) < 0)
		return elog_err_prefix(err, "topic defaults");
	if (c->store.defaults.batch_bytes_max + 1024u > c->max_frame_bytes)
		return elog_err_set(err, ELOG_E_INVAL,
				    "max_frame_bytes %u cannot carry a batch of default.max.batch.bytes %u",
				    c->max_frame_bytes, c->store.defaults.batch_bytes_max);
	return 0;
}

int elog_broker_config_check_cluster(const struct elog_broker_config *c, struct elog_err *err)
{
	if (c->cluster.count == 0)
		return 0;
	if (elog_cluster_check(&c->cluster, c->broker_id, c->listen_port, err) < 0)
		return elog_err_prefix(err, "cluster");
	if (c->default_replication_factor > c->cluster.count)
		return elog_err_set(err, ELOG_E_INVAL,
				    "default_replication_factor %u is larger than the cluster's %u brokers",
				    c->default_replication_factor, c->cluster.count);
	if (c->raft_heartbeat_ticks >= c->raft_election_ticks)
		return elog_err_set(err, ELOG_E_INVAL,
				    "raft_heartbeat_ticks %u must be below raft_election_ticks %u",
				    c->raft_heartbeat_ticks, c->raft_election_ticks);
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = 0;
	return s;
}

/* One line: blank, a comment, or key = value. */
static int load_line(struct elog_broker_config *c, char *line, struct elog_err *err)
{
	char *s = trim(line), *eq, *key, *value;

	if (*s == 0 || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (!eq)
		return elog_err_set(err, ELOG_E_INVAL, "expected key = value");
	*eq = 0;
	key = trim(s);
	value = trim(eq + 1);
	if (!*key)
		return elog_err_set(err, ELOG_E_INVAL, "expected key = value");
	return elog_broker_config_set(c, key, value, err);
}

int elog_broker_config_load(struct elog_broker_config *c, const char *path, struct elog_err *err)
{
	char line[LINE_MAX_BYTES];
	FILE *f = fopen(path, "r");
	unsigned lineno = 0;
	int rc = 0;

	if (!f)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		if (lineno > FILE_LINES_MAX)
			rc = elog_err_set(err, ELOG_E_LIMIT, "%s: more than %d lines", path,
					  FILE_LINES_MAX);
		else if (strlen(line) == sizeof(line) - 1 && line[sizeof(line) - 2] != '\n')
			rc = elog_err_set(err, ELOG_E_LIMIT, "%s:%u: line longer than %d bytes", path,
					  lineno, LINE_MAX_BYTES - 2);
		else if (load_line(c, line, err) < 0)
			rc = elog_err_prefix(err, "%s:%u", path, lineno);
	}
	if (rc == 0 && ferror(f))
		rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot read", path);
	fclose(f);
	if (rc == 0 && elog_broker_config_check(c, err) < 0)
		return elog_err_prefix(err, "%s", path);
	return rc;
}
