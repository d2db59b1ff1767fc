/*
 * elog-serve — the elog broker; see elog-serve(1) and docs/operations.md.
 *
 * Options and the config file fill one struct elog_broker_config (the
 * command line wins over the file); libcore's broker does the rest. Logs
 * are logfmt lines on stderr; the first one after startup is "msg=ready".
 *
 * Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the
 * broker cannot start or fails, 2 for a bad command line.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "cli.h"

enum { OPT_VERSION = 256, OPT_SALVAGE_METADATA, OPT_ID, OPT_CLUSTER };

static const struct elog_cli_option options[] = {
	{'d', "dir", "DIR", "data directory (default " ELOG_BROKER_DIR_DEFAULT ")"},
	{'l', "listen", "HOST:PORT", "address to serve on (default " ELOG_BROKER_LISTEN_DEFAULT
				     "; port 0 picks a free one)"},
	{'c', "config", "FILE", "read settings from FILE (key = value lines)"},
	{OPT_ID, "id", "N", "this broker's id (config key broker_id; default 0)"},
	{OPT_CLUSTER, "cluster", "ID@HOST:PORT,...",
	 "run as a member of this cluster (every broker, itself included)"},
	{OPT_SALVAGE_METADATA, "salvage-metadata", NULL,
	 "rebuild a damaged metadata log from what is intact, keeping it"},
	{'h', "help", NULL, "print this help and exit"},
	{OPT_VERSION, "version", NULL, "print the version and exit"},
	{0, NULL, NULL, NULL},
};

static const struct elog_cli_program program = {
	.synopsis = "[-h] [--salvage-metadata] [--version] [-c file] [-d dir] [-l host:port]"
		    " [--cluster list] [--id n]",
	.summary = "Serve elog topics from a data directory: the broker. Logs go to stderr;\n"
		   "SIGTERM or SIGINT stop it cleanly.",
	.options = options,
};

struct args {
	const char *dir, *listen, *config, *id, *cluster;
	int salvage_metadata;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	struct elog_cli_getopt g;
	int id;

	memset(a, 0, sizeof(*a));
	elog_cli_getopt_init(&g, &program, argc, argv);
	while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) {
		switch (id) {
		case 'd': a->dir = g.arg; break;
		case 'l': a->listen = g.arg; break;
		case 'c': a->config = g.arg; break;
		case OPT_ID: a->id = g.arg; break;
		case OPT_CLUSTER: a->cluster = g.arg; break;
		case OPT_SALVAGE_METADATA: a->salvage_metadata = 1; break;
		case ELOG_CLI_DONE: return ELOG_EXIT_OK;
		default:
			elog_cli_usage(stderr, &program);
			return ELOG_EXIT_USAGE;
		}
	}
	if (g.index < argc)
		return elog_cli_usage_error(&program, "unexpected argument \"%s\"", argv[g.index]);
	return -1;
}

/* File first, then the options over it. */
static int configure(const struct args *a, struct elog_broker_config *c)
{
	struct elog_err err;

	elog_broker_config_default(c);
	if (a->config && elog_broker_config_load(c, a->config, &err) < 0) {
		elog_cli_error_err(&err, NULL);
		return ELOG_EXIT_FAIL;
	}
	if (a->dir && elog_broker_config_set(c, "data_dir", a->dir, &err) < 0)
		return elog_cli_usage_error(&program, "--dir: %s", err.msg);
	if (a->listen && elog_broker_config_listen(c, a->listen, &err) < 0)
		return elog_cli_usage_error(&program, "--listen: %s", err.msg);
	if (a->id) {
		uint64_t id;
		if (elog_cli_parse_u64(a->id, 0, INT32_MAX, &id, &err) < 0)
			return elog_cli_usage_error(&program, "--id: %s", err.msg);
		c->broker_id = (int32_t)id;
	}
	if (a->cluster && elog_cluster_parse(a->cluster, &c->cluster, &err) < 0)
		return elog_cli_usage_error(&program, "--cluster: %s", err.msg);
	if (elog_broker_config_check_cluster(c, &err) < 0) {
		if (a->cluster || a->id || a->listen)
			return elog_cli_usage_error(&program, "%s", err.msg);
		elog_cli_error_err(&err, NULL);
		return ELOG_EXIT_FAIL;
	}
	c->store.salvage_metadata = a->salvage_metadata;
	return -1;
}

int main(int argc, char **argv)
{
	struct elog_broker_config config;
	struct elog_logger logger = {stderr, ELOG_LOG_INFO};
	struct elog_broker *broker;
	struct elog_err err;
	struct args a;
	sigset_t signals;
	int rc;

	elog_cli_init(argv[0]);
	if ((rc = parse_args(argc, argv, &a)) >= 0 || (rc = configure(&a, &config)) >= 0)
		return rc;
	/* Blocked before any thread starts, so only the loop's signalfd sees them. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (ulimit -f) then fails the write with EFBIG, which the
	 * logs treat as a full disk (docs/format.md), instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	if (elog_broker_open(&config, &logger, &broker, &err) < 0) {
		elog_cli_error_err(&err, "cannot start");
		return ELOG_EXIT_FAIL;
	}
	rc = elog_broker_run(broker, &signals, &err);
	if (rc < 0)
		elog_cli_error_err(&err, "stopped");
	elog_broker_close(broker);
	return rc < 0 ? ELOG_EXIT_FAIL : ELOG_EXIT_OK;
}
