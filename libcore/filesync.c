/* filesync — durable whole-file replaces; see filesync.h. */
#include "filesync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int elog_dir_sync(const char *dir, struct elog_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", dir);
	rc = fsync(fd);
	if (rc < 0)
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync", dir);
	close(fd);
	return rc;
}

int elog_file_replace(const char *dir, const char *name, const void *buf, size_t len,
		      struct elog_err *err)
{
	char path[4096], tmp[4096];
	const char *p = buf;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >= (int)sizeof(tmp))
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return elog_err_errno(err, errno == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, errno,
				      "%s: cannot create", tmp);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	if (len > 0 || fdatasync(fd) < 0) {
		int e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return elog_err_errno(err, e == ENOSPC ? ELOG_E_NOSPACE : ELOG_E_IO, e,
				      "%s: cannot write", tmp);
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot rename", tmp);
		unlink(tmp);
		return -1;
	}
	return elog_dir_sync(dir, err);
}
