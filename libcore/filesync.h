/*
 * filesync — small files replaced whole, durably: the tmp file, fdatasync,
 * rename over the old one, fsync of the directory. A crash leaves the old
 * file or the new one, never a mix (and at worst a stale NAME.tmp, which the
 * next replace truncates). Used for raft.state and broker.id.
 */
#ifndef ELOG_FILESYNC_H
#define ELOG_FILESYNC_H

#include <stddef.h>

#include "err.h"

/* fsync a directory (what a create, rename or unlink in it needs). */
int elog_dir_sync(const char *dir, struct elog_err *err);
/* Replace dir/name with len bytes of buf, durably (above). ELOG_E_NOSPACE
 * when the disk is full; the old file is then untouched. */
int elog_file_replace(const char *dir, const char *name, const void *buf, size_t len,
		      struct elog_err *err);

#endif
