/* raftstate — a Raft group's raft.state file; see raftstate.h. */
#include "raftstate.h"
#include "filesync.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "crc32c.h"

static const uint8_t magic[4] = {'E', 'R', 'S', 'T'};

void elog_raftstate_init(struct elog_raftstate *s)
{
	memset(s, 0, sizeof(*s));
	s->hard.vote = ELOG_RAFT_NONE;
}

int elog_raftstate_equal(const struct elog_raftstate *a, const struct elog_raftstate *b)
{
	/* Field by field: a struct copied by assignment may carry any padding. */
	return a->hard.term == b->hard.term && a->hard.vote == b->hard.vote &&
	       a->hard.restricted_term == b->hard.restricted_term && a->commit == b->commit &&
	       a->flags == b->flags && a->term_count == b->term_count &&
	       memcmp(a->terms, b->terms, a->term_count * sizeof(a->terms[0])) == 0;
}

size_t elog_raftstate_encode(const struct elog_raftstate *s, uint8_t *buf, size_t cap)
{
	size_t n = ELOG_RAFTSTATE_HEAD_BYTES;

	assert(cap >= ELOG_RAFTSTATE_BYTES_MAX);
	assert(s->term_count <= ELOG_RAFT_TERMS_MAX && s->commit >= 0);
	memcpy(buf, magic, 4);
	elog_put16(buf + 4, ELOG_RAFTSTATE_VERSION);
	elog_put16(buf + 6, s->flags);
	elog_put64(buf + 8, s->hard.term);
	elog_put32(buf + 16, (uint32_t)s->hard.vote);
	elog_put64(buf + 20, s->hard.restricted_term);
	elog_put64(buf + 28, (uint64_t)s->commit);
	elog_put32(buf + 36, s->term_count);
	for (uint32_t i = 0; i < s->term_count; i++, n += 16) {
		elog_put64(buf + n, s->terms[i].term);
		elog_put64(buf + n + 8, (uint64_t)s->terms[i].start);
	}
	elog_put32(buf + n, elog_crc32c(0, buf, n));
	return n + 4;
}

int elog_raftstate_decode(const uint8_t *buf, size_t len, struct elog_raftstate *s,
			  struct elog_err *err)
{
	uint32_t count;
	size_t n = ELOG_RAFTSTATE_HEAD_BYTES;

	elog_raftstate_init(s);
	if (len < ELOG_RAFTSTATE_HEAD_BYTES + 4 || memcmp(buf, magic, 4) != 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "not a raft state file (%zu bytes)", len);
	if (elog_get16(buf + 4) > ELOG_RAFTSTATE_VERSION)
		return elog_err_set(err, ELOG_E_VERSION, "version %u is newer than this build's %d",
				    elog_get16(buf + 4), ELOG_RAFTSTATE_VERSION);
	count = elog_get32(buf + 36);
	if (count > ELOG_RAFT_TERMS_MAX || len != ELOG_RAFTSTATE_HEAD_BYTES + 16u * count + 4)
		return elog_err_set(err, ELOG_E_CORRUPT, "%zu bytes do not hold %u terms (torn write?)",
				    len, count);
	if (elog_get32(buf + len - 4) != elog_crc32c(0, buf, len - 4))
		return elog_err_set(err, ELOG_E_CORRUPT, "crc mismatch");
	s->flags = elog_get16(buf + 6);
	s->hard.term = elog_get64(buf + 8);
	s->hard.vote = (int32_t)elog_get32(buf + 16);
	s->hard.restricted_term = elog_get64(buf + 20);
	s->commit = (int64_t)elog_get64(buf + 28);
	s->term_count = count;
	if (s->hard.vote < ELOG_RAFT_NONE || s->commit < 0 || s->hard.restricted_term > s->hard.term)
		return elog_err_set(err, ELOG_E_CORRUPT, "bad vote, commit or restricted term");
	for (uint32_t i = 0; i < count; i++, n += 16) {
		s->terms[i].term = elog_get64(buf + n);
		s->terms[i].start = (int64_t)elog_get64(buf + n + 8);
		if (s->terms[i].start < 0 || s->terms[i].term == 0 || s->terms[i].term > s->hard.term ||
		    (i > 0 && (s->terms[i].term <= s->terms[i - 1].term ||
			       s->terms[i].start <= s->terms[i - 1].start)))
			return elog_err_set(err, ELOG_E_CORRUPT, "term cache entry %u out of order", i);
	}
	return 0;
}

int elog_raftstate_load(const char *dir, struct elog_raftstate *s, int *found,
			struct elog_err *err)
{
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX + 1];
	char path[4096];
	ssize_t got;
	size_t len = 0;
	int fd;

	elog_raftstate_init(s);
	*found = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, ELOG_RAFTSTATE_NAME) >= (int)sizeof(path))
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	}
	while (len < sizeof(buf) && (got = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot read", path);
			close(fd);
			return -1;
		}
		len += (size_t)got;
	}
	close(fd);
	if (elog_raftstate_decode(buf, len, s, err) < 0)
		return elog_err_prefix(err, "%s", path);
	*found = 1;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int state_paths(const char *dir, char *path, char *tmp, size_t cap, struct elog_err *err)
{
	if (snprintf(path, cap, "%s/%s", dir, ELOG_RAFTSTATE_NAME) >= (int)cap ||
	    snprintf(tmp, cap, "%s/%s.tmp", dir, ELOG_RAFTSTATE_NAME) >= (int)cap)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", dir);
	return 0;
}

/* Write raft.state.tmp, synced or not. */
static int tmp_write(const char *tmp, const struct elog_raftstate *s, int sync,
		     struct elog_err *err)
{
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];
	size_t len = elog_raftstate_encode(s, buf, sizeof(buf));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return elog_err_errno(err, errno == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, errno,
				      "%s: cannot create", tmp);
	if (write_all(fd, buf, len) < 0 || (sync && fdatasync(fd) < 0)) {
		elog_err_errno(err, errno == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, errno,
			       "%s: cannot write", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return 0;
}

static int tmp_rename(const char *tmp, const char *path, struct elog_err *err)
{
	if (rename(tmp, path) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot rename", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int elog_raftstate_store(const char *dir, const struct elog_raftstate *s, struct elog_err *err)
{
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];

	return elog_file_replace(dir, ELOG_RAFTSTATE_NAME, buf,
				 elog_raftstate_encode(s, buf, sizeof(buf)), err);
}

int elog_raftstate_store_unsynced(const char *dir, const struct elog_raftstate *s,
				  struct elog_err *err)
{
	char path[4096], tmp[4096];

	if (state_paths(dir, path, tmp, sizeof(path), err) < 0)
		return -1;
	return tmp_write(tmp, s, 0, err);
}

int elog_raftstate_store_rename(const char *dir, struct elog_err *err)
{
	char path[4096], tmp[4096];

	if (state_paths(dir, path, tmp, sizeof(path), err) < 0)
		return -1;
	return tmp_rename(tmp, path, err);
}

int elog_raftstate_syncfs(const char *dir, struct elog_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", dir);
	if (syncfs(fd) < 0)
		rc = elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync the filesystem", dir);
	close(fd);
	return rc;
}
