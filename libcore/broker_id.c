/*
 * broker_id — which broker a data directory belongs to, in a cluster: the
 * file DIR/broker.id holds the id (decimal, one line) of the broker that
 * first started on the directory with --cluster. A broker started with
 * another --id is refused: its votes, terms and logs are another broker's,
 * and serving them under a second id would let one disk vote twice (two
 * directories swapped by a deploy script, or one copied to replace a lost
 * broker). A replacement broker starts with the lost one's id and an empty
 * directory (docs/operations.md, "Replacing a broker").
 *
 * Written once, before any Raft state: tmp file, fsync, rename, directory
 * fsync. A file that is there but is not one decimal id and a newline is
 * damage and stops the start, naming it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_int.h"
#include "filesync.h"
#include "raftjournal.h"
#include "raftstate.h"

#define BROKER_ID_NAME "broker.id"
#define BROKER_ID_BYTES_MAX 16

static int write_id(const char *dir, int32_t id, struct elog_err *err)
{
	char text[BROKER_ID_BYTES_MAX];
	int len = snprintf(text, sizeof(text), "%d\n", (int)id);

	return elog_file_replace(dir, BROKER_ID_NAME, text, (size_t)len, err);
}

int elog_broker_id_claim(const char *dir, int32_t id, struct elog_err *err)
{
	char path[4096], text[BROKER_ID_BYTES_MAX + 1], *end;
	ssize_t n;
	long v;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, BROKER_ID_NAME) >= (int)sizeof(path))
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		char state[4200];
		if (errno != ENOENT)
			return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
		/* No claim, but Raft state: a directory that ran in a cluster and
		 * lost its broker.id (or was copied without it) is someone's. */
		snprintf(state, sizeof(state), "%s/%s/0/%s", dir, ELOG_STORE_META_DIR,
			 ELOG_RAFTSTATE_NAME);
		if (access(state, F_OK) != 0)
			snprintf(state, sizeof(state), "%s/%s/%s", dir, ELOG_STORE_META_DIR,
				 ELOG_RAFTJOURNAL_NAME);
		if (access(state, F_OK) == 0)
			return elog_err_set(err, ELOG_E_INVAL,
					    "%s: missing, but the directory holds Raft state (%s): see \"Replacing a broker\" in docs/operations.md",
					    path, state);
		return write_id(dir, id, err);
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot read", path);
	text[n] = '\0';
	errno = 0;
	v = strtol(text, &end, 10);
	if (n < 2 || text[0] < '0' || text[0] > '9' || errno || end != text + n - 1 || *end != '\n' ||
	    v > INT32_MAX)
		return elog_err_set(err, ELOG_E_CORRUPT,
				    "%s: damaged (not a broker id and a newline): see \"Replacing a broker\" in docs/operations.md",
				    path);
	if (v != id)
		return elog_err_set(err, ELOG_E_INVAL,
				    "%s: this directory is broker %ld's, not broker %d's (--id): see \"Replacing a broker\" in docs/operations.md",
				    path, v, (int)id);
	return 0;
}
