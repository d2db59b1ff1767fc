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
	elog_put64(buf + 36, s->seq);
	elog_put32(buf + 44, s->term_count);
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
	uint32_t count, version;
	size_t head, need;

	elog_raftstate_init(s);
	if (len < 40 + 4 || memcmp(buf, magic, 4) != 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "not a raft state file (%zu bytes)", len);
	version = elog_get16(buf + 4);
	if (version > ELOG_RAFTSTATE_VERSION)
		return elog_err_set(err, ELOG_E_VERSION, "version %u is newer than this build's %d",
				    version, ELOG_RAFTSTATE_VERSION);
	head = version >= 2 ? ELOG_RAFTSTATE_HEAD_BYTES : 40;
	if (len < head + 4)
		return elog_err_set(err, ELOG_E_CORRUPT, "%zu bytes are not a whole copy (torn write?)",
				    len);
	count = elog_get32(buf + head - 4);
	need = head + 16u * (count <= ELOG_RAFT_TERMS_MAX ? count : 0) + 4;
	if (count > ELOG_RAFT_TERMS_MAX || len < need)
		return elog_err_set(err, ELOG_E_CORRUPT, "%zu bytes do not hold %u terms (torn write?)",
				    len, count);
	if (elog_get32(buf + need - 4) != elog_crc32c(0, buf, need - 4))
		return elog_err_set(err, ELOG_E_CORRUPT, "crc mismatch");
	s->flags = elog_get16(buf + 6);
	s->hard.term = elog_get64(buf + 8);
	s->hard.vote = (int32_t)elog_get32(buf + 16);
	s->hard.restricted_term = elog_get64(buf + 20);
	s->commit = (int64_t)elog_get64(buf + 28);
	s->seq = version >= 2 ? elog_get64(buf + 36) : 0;
	s->term_count = count;
	if (s->hard.vote < ELOG_RAFT_NONE || s->commit < 0 || s->hard.restricted_term > s->hard.term)
		return elog_err_set(err, ELOG_E_CORRUPT, "bad vote, commit or restricted term");
	for (uint32_t i = 0, n = (uint32_t)head; i < count; i++, n += 16) {
		s->terms[i].term = elog_get64(buf + n);
		s->terms[i].start = (int64_t)elog_get64(buf + n + 8);
		if (s->terms[i].start < 0 || s->terms[i].term == 0 || s->terms[i].term > s->hard.term ||
		    (i > 0 && (s->terms[i].term <= s->terms[i - 1].term ||
			       s->terms[i].start <= s->terms[i - 1].start)))
			return elog_err_set(err, ELOG_E_CORRUPT, "term cache entry %u out of order", i);
	}
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static int state_path(const char *dir, char *path, size_t cap, struct elog_err *err)
{
	if (snprintf(path, cap, "%s/%s", dir, ELOG_RAFTSTATE_NAME) >= (int)cap)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", dir);
	return 0;
}

int elog_raftstate_load(const char *dir, struct elog_raftstate *s, int *found,
			struct elog_err *err)
{
	static __thread uint8_t buf[2 * ELOG_RAFTSTATE_COPY_BYTES];
	struct elog_raftstate c[2];
	struct elog_err why[2];
	int good[2], written[2];
	char path[4096];
	ssize_t got;
	size_t len = 0;
	int fd;

	elog_raftstate_init(s);
	*found = 0;
	if (state_path(dir, path, sizeof(path), err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	}
	while (len < sizeof(buf) && (got = pread(fd, buf + len, sizeof(buf) - len, (off_t)len)) != 0) {
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
	for (int k = 0; k < 2; k++) {
		size_t at = (size_t)k * ELOG_RAFTSTATE_COPY_BYTES;
		size_t n = len > at ? len - at : 0;
		if (n > ELOG_RAFTSTATE_COPY_BYTES)
			n = ELOG_RAFTSTATE_COPY_BYTES;
		written[k] = n > 0 && !all_zero(buf + at, n);
		good[k] = written[k] && elog_raftstate_decode(buf + at, n, &c[k], &why[k]) == 0;
		if (written[k] && !good[k] && why[k].code == ELOG_E_VERSION) {
			*err = why[k];
			return elog_err_prefix(err, "%s", path);
		}
	}
	/* Empty or zeros only: made, and the process gone before its first copy
	 * reached the disk (copy 1 goes first, past a hole, and a crash may keep
	 * the new size without the bytes). Nothing was sent on it: no state. */
	if (!written[0] && !written[1])
		return 0;
	if (!good[0] && !good[1]) {
		*err = written[0] ? why[0] : why[1];
		return elog_err_prefix(err, "%s", path);
	}
	*s = c[good[1] && (!good[0] || c[1].seq > c[0].seq) ? 1 : 0];
	s->copy_damaged = (written[0] && !good[0]) || (written[1] && !good[1]);
	*found = 1;
	return 0;
}

static int copy_write(int fd, const char *path, const struct elog_raftstate *s, int copy,
		      int sync, struct elog_err *err)
{
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];
	size_t len = elog_raftstate_encode(s, buf, sizeof(buf)), done = 0;
	off_t at = (off_t)copy * ELOG_RAFTSTATE_COPY_BYTES;

	while (done < len) {
		ssize_t w = pwrite(fd, buf + done, len - done, at + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return elog_err_errno(err, errno == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO,
					      w < 0 ? errno : EIO, "%s: cannot write", path);
		done += (size_t)w;
	}
	if (sync && fdatasync(fd) < 0)
		return elog_err_errno(err, errno == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, errno,
				      "%s: cannot sync", path);
	return 0;
}

/* Open DIR/raft.state for writing; *created when this made it. */
static int state_open(const char *dir, char *path, size_t cap, int *created,
		      struct elog_err *err)
{
	int fd;

	*created = 0;
	if (state_path(dir, path, cap, err) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		*created = fd >= 0;
	}
	if (fd < 0)
		return elog_err_errno(err, errno == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, errno,
				      "%s: cannot open", path);
	return fd;
}

int elog_raftstate_store(const char *dir, struct elog_raftstate *s, struct elog_err *err)
{
	char path[4096];
	int created, fd = state_open(dir, path, sizeof(path), &created, err), rc;

	if (fd < 0)
		return -1;
	s->seq++;
	rc = copy_write(fd, path, s, 1, 1, err) < 0 || copy_write(fd, path, s, 0, 1, err) < 0 ? -1 : 0;
	close(fd);
	if (rc == 0 && created && elog_dir_sync(dir, err) < 0)
		rc = -1;
	if (rc < 0)
		s->seq--;
	return rc;
}

int elog_raftstate_store_copy(const char *dir, const struct elog_raftstate *s, int copy,
			      struct elog_err *err)
{
	char path[4096];
	int created, fd = state_open(dir, path, sizeof(path), &created, err), rc;

	if (fd < 0)
		return -1;
	rc = copy_write(fd, path, s, copy, 0, err);
	close(fd);
	return rc;
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
