/* store_space — free space on the data disk, and failed logs reported once; see store.h. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/statvfs.h>

#include "store_int.h"

/* ---------------------------------------------------------------- disk space */

static uint64_t space_estimate(const struct elog_store *store)
{
	uint64_t free_bytes = store->space.free_bytes, used = store->space.reserved_bytes;

	return free_bytes > used ? free_bytes - used : 0;
}

/* Free space at which the low state ends. */
static uint64_t space_resume_bytes(const struct elog_store *store)
{
	uint64_t min_free = store->options.min_free_bytes;
	uint64_t line = min_free + ELOG_STORE_SPACE_MARGIN(min_free);

	return line > store->space.exhausted_resume_bytes ? line
							  : store->space.exhausted_resume_bytes;
}

static void space_log(struct elog_store *store, const char *msg, const char *reason)
{
	char dir[ELOG_LOG_VALUE_MAX], why[ELOG_LOG_VALUE_MAX];

	if (reason)
		elog_logf(store->options.log, ELOG_LOG_WARN, msg,
			  "dir=%s free_bytes=%" PRIu64 " min_free_bytes=%" PRIu64 " reason=%s",
			  elog_logfmt_value(dir, sizeof(dir), store->dir), store->space.free_bytes,
			  store->options.min_free_bytes, elog_logfmt_value(why, sizeof(why), reason));
	else
		elog_logf(store->options.log, ELOG_LOG_WARN, msg,
			  "dir=%s free_bytes=%" PRIu64 " min_free_bytes=%" PRIu64,
			  elog_logfmt_value(dir, sizeof(dir), store->dir), store->space.free_bytes,
			  store->options.min_free_bytes);
}

int elog_store_space_refresh(struct elog_store *store, struct elog_err *err)
{
	struct statvfs st;

	if (statvfs(store->dir, &st) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot measure free space",
				      store->dir);
	store->space.free_bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	store->space.reserved_bytes = 0;
	if (!store->space.low && store->space.free_bytes < store->options.min_free_bytes) {
		store->space.low = 1;
		store->space.exhausted_resume_bytes = 0;
		space_log(store, "disk space low", "free space is below min_free_bytes");
	} else if (store->space.low && store->space.free_bytes >= space_resume_bytes(store)) {
		store->space.low = 0;
		space_log(store, "disk space ok again", NULL);
	}
	return 0;
}

int elog_store_space_reserve(struct elog_store *store, uint64_t bytes, struct elog_err *err)
{
	/* Below the line by the estimate: measure once to be sure (this may turn low). */
	if (!store->space.low && space_estimate(store) < store->options.min_free_bytes)
		elog_store_space_refresh(store, NULL);
	if (store->space.low)
		return elog_err_set(err, ELOG_E_NOSPACE,
				    "broker storage is full: %" PRIu64
				    " bytes free, writes resume at %" PRIu64,
				    space_estimate(store), space_resume_bytes(store));
	store->space.reserved_bytes += bytes;
	return 0;
}

int elog_store_space_room_for_new(struct elog_store *store, struct elog_err *err)
{
	if (elog_store_space_refresh(store, err) < 0)
		return -1;
	if (store->space.free_bytes >= ELOG_STORE_META_PREALLOCATE)
		return 0;
	return elog_err_set(err, ELOG_E_NOSPACE,
			    "broker storage is full: %" PRIu64 " bytes free, new partitions need %u",
			    store->space.free_bytes, ELOG_STORE_META_PREALLOCATE);
}

void elog_store_space_exhausted(struct elog_store *store, const struct elog_err *why)
{
	if (store->space.low)
		return;
	elog_store_space_refresh(store, NULL); /* below the line anyway: that reason */
	if (store->space.low)
		return;
	/*
	 * Room by the measure, yet a write found none: inodes, a quota, a file
	 * size limit. Low until the free space has grown by the margin (a
	 * delete, retention), not at the next measurement, or it would flap.
	 */
	store->space.low = 1;
	store->space.exhausted_resume_bytes =
		store->space.free_bytes + ELOG_STORE_SPACE_MARGIN(store->options.min_free_bytes);
	space_log(store, "disk space low", why ? why->msg : "a write found no room");
}

int elog_store_space_low(const struct elog_store *store)
{
	return store->space.low;
}

/* ---------------------------------------------------------------- failures */

void elog_store_partition_check(struct elog_store *store, struct elog_partition *p)
{
	char v[ELOG_LOG_VALUE_MAX], why[ELOG_LOG_VALUE_MAX];
	struct elog_err err;

	if (p->failure_logged || !p->log || !elog_partlog_failed(p->log, &err))
		return;
	p->failure_logged = 1;
	elog_logf(store->options.log, ELOG_LOG_ERROR, "partition failed",
		  "topic=%s partition=%u error=%s", elog_logfmt_value(v, sizeof(v), p->topic->name),
		  p->id, elog_logfmt_value(why, sizeof(why), err.msg));
}

void elog_store_meta_check(struct elog_store *store)
{
	char why[ELOG_LOG_VALUE_MAX];
	struct elog_err err;

	if (store->meta_failure_logged || !store->meta || !elog_partlog_failed(store->meta, &err))
		return;
	store->meta_failure_logged = 1;
	elog_logf(store->options.log, ELOG_LOG_ERROR, "metadata log failed", "error=%s",
		  elog_logfmt_value(why, sizeof(why), err.msg));
}

void elog_store_failures_log(struct elog_store *store)
{
	elog_store_meta_check(store);
	for (uint32_t i = 0; i < store->topic_count; i++) {
		struct elog_topic *t = store->topics[i];
		for (uint32_t k = 0; k < t->partition_count; k++)
			elog_store_partition_check(store, t->partitions[k]);
	}
}
