/* store — data directory, lock, metadata log, topics; see store.h. */
#include "store.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "json.h"
#include "segment.h"
#include "store_int.h"
#include "filesync.h"

#define PATH_BYTES 4096

void elog_store_options_default(struct elog_store_options *o)
{
	memset(o, 0, sizeof(*o));
	elog_topic_config_default(&o->defaults);
	o->default_partitions = 1;
	o->topics_max = 10000;
	o->partitions_max = ELOG_STORE_PARTITIONS_MAX_DEFAULT;
	o->topic_partitions_max = 1024;
	o->producers_max = ELOG_PSTATE_PRODUCERS_DEFAULT;
	o->min_free_bytes = ELOG_STORE_MIN_FREE_DEFAULT;
}

int elog_store_path(const struct elog_store *store, char *out, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, PATH_BYTES, "%s/", store->dir);

	if (n < 0 || n >= PATH_BYTES)
		return -1;
	va_start(ap, fmt);
	n += vsnprintf(out + n, (size_t)(PATH_BYTES - n), fmt, ap);
	va_end(ap);
	return n >= PATH_BYTES ? -1 : 0;
}

int elog_store_sync_path(const char *path, struct elog_err *err)
{
	return elog_dir_sync(path, err);
}

int elog_store_name_check(const char *name, size_t len, struct elog_err *err)
{
	/* The broker's own topics (docs/groups.md) are stored like any other. */
	return elog_topic_name_check(name, len, elog_store_internal_name(name, len), err);
}

int elog_store_internal_name(const char *name, size_t len)
{
	return len == 8 && memcmp(name, "__groups", 8) == 0;
}

/* ---------------------------------------------------------------- lookup */

static int name_cmp(const struct elog_topic *t, const char *name, size_t len)
{
	size_t tl = strlen(t->name);
	int c = memcmp(t->name, name, tl < len ? tl : len);

	return c ? c : (tl < len ? -1 : tl > len);
}

static uint32_t topic_search(const struct elog_store *store, const char *name, size_t len,
			     int *found)
{
	uint32_t lo = 0, hi = store->topic_count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (name_cmp(store->topics[mid], name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < store->topic_count && name_cmp(store->topics[lo], name, len) == 0;
	return lo;
}

struct elog_topic *elog_store_find(const struct elog_store *store, const char *name, size_t len)
{
	int found;
	uint32_t i = topic_search(store, name, len, &found);

	return found ? store->topics[i] : NULL;
}

struct elog_partition *elog_store_partition(const struct elog_store *store, const char *name,
					    size_t len, uint32_t id)
{
	struct elog_topic *t = elog_store_find(store, name, len);

	return t && id < t->partition_count ? t->partitions[id] : NULL;
}

int elog_store_topic_insert(struct elog_store *store, struct elog_topic *t, struct elog_err *err)
{
	int found;
	uint32_t i = topic_search(store, t->name, strlen(t->name), &found);

	assert(!found);
	if (store->topic_count == store->topic_cap) {
		uint32_t cap = store->topic_cap ? store->topic_cap * 2 : 16;
		struct elog_topic **p = realloc(store->topics, cap * sizeof(*p));
		if (!p)
			return elog_err_set(err, ELOG_E_NOMEM, "topics: out of memory");
		store->topics = p;
		store->topic_cap = cap;
	}
	memmove(&store->topics[i + 1], &store->topics[i],
		(store->topic_count - i) * sizeof(*store->topics));
	store->topics[i] = t;
	store->topic_count++;
	return 0;
}

void elog_store_topic_remove(struct elog_store *store, struct elog_topic *t)
{
	int found;
	uint32_t i = topic_search(store, t->name, strlen(t->name), &found);

	assert(found && store->topics[i] == t);
	memmove(&store->topics[i], &store->topics[i + 1],
		(store->topic_count - i - 1) * sizeof(*store->topics));
	store->topic_count--;
}

/* ---------------------------------------------------------------- partitions */

/*
 * Every partition whose data the flusher syncs is registered with it:
 * flush=interval with its interval, flush=always with 0 (synced at the next
 * round, which the broker kicks; its log does not sync on the loop, see
 * sync_deferred in partlog.h). flush=never is synced only at close.
 */
static int partition_register(struct elog_store *store, struct elog_partition *p,
			      struct elog_err *err)
{
	const struct elog_topic_config *c = &p->topic->config;

	if (c->flush == ELOG_FLUSH_NEVER || !store->options.flusher)
		return 0;
	return elog_flusher_add(store->options.flusher, p->log,
				c->flush == ELOG_FLUSH_ALWAYS ? 0 : c->flush_interval_ms, p,
				&p->flusher_log, err);
}

/* The partlog's `written` callback: the flusher has a log to visit. */
static void partition_written(void *ctx)
{
	struct elog_partition *p = ctx;

	if (p->flusher_log)
		elog_flusher_dirty(p->store->options.flusher, p->flusher_log);
}

/* The partlog's `discard` callback: a deleted segment's last fd is closed
 * by the flusher thread, off the loop (see flusher.h). */
static void partition_discard(void *ctx, int fd)
{
	struct elog_partition *p = ctx;

	elog_flusher_close_later(p->store->options.flusher, fd);
}

/* discard: the topic was deleted and its files go; nothing is flushed. */
static void partition_close_log(struct elog_store *store, struct elog_partition *p, int discard)
{
	elog_flusher_remove(store->options.flusher, p->flusher_log);
	p->flusher_log = NULL;
	if (discard) {
		elog_partlog_close_discard(p->log);
		p->log = NULL;
		return;
	}
	/* Close flushes too, but says nothing: a last failure must reach the log. */
	if (!elog_partlog_failed(p->log, NULL))
		elog_partlog_flush(p->log, NULL);
	elog_store_partition_check(store, p);
	elog_partlog_close(p->log);
	p->log = NULL;
}

static void log_recovery(struct elog_store *store, const char *path,
			 const struct elog_partlog_recovery *r)
{
	char v[ELOG_LOG_VALUE_MAX], why[ELOG_LOG_VALUE_MAX], rp[ELOG_LOG_VALUE_MAX];
	int bad_point = r->recovery_point_state == ELOG_RECOVERY_POINT_BAD;
	enum elog_log_level level = ELOG_LOG_INFO;

	if (r->start_problem[0])
		elog_logf(store->options.log, ELOG_LOG_WARN, "log start reset",
			  "dir=%s start_offset=%" PRId64 " reason=%s",
			  elog_logfmt_value(v, sizeof(v), path), r->start_offset,
			  elog_logfmt_value(why, sizeof(why), r->start_problem));
	if (r->truncated_bytes == 0 && r->indexes_rebuilt == 0 && r->damaged_extents == 0 &&
	    !bad_point)
		return;
	if (r->truncated_bytes || bad_point)
		level = ELOG_LOG_WARN;
	/* Each damaged extent has had its own error line already. */
	if (r->damaged_extents)
		level = ELOG_LOG_ERROR;
	elog_logf(store->options.log, level, "partition recovered",
		  "dir=%s truncated_bytes=%" PRIu64 " truncated_records=%" PRIu64
		  " segments_removed=%u segments_validated=%u indexes_rebuilt=%u damaged_extents=%u"
		  " reason=%s recovery_point_problem=%s",
		  elog_logfmt_value(v, sizeof(v), path), r->truncated_bytes, r->truncated_records,
		  r->segments_removed, r->segments_validated, r->indexes_rebuilt, r->damaged_extents,
		  elog_logfmt_value(why, sizeof(why), r->first_bad),
		  elog_logfmt_value(rp, sizeof(rp), r->recovery_point_problem));
}

void elog_store_log_event(const struct elog_store *store, const char *topic, uint32_t partition,
			  const struct elog_partlog_event *e)
{
	char t[ELOG_LOG_VALUE_MAX], f[ELOG_LOG_VALUE_MAX], why[ELOG_LOG_VALUE_MAX];
	char path[PATH_BYTES], name[32];

	if (e->kind == ELOG_PARTLOG_EVENT_DAMAGE) {
		const struct elog_partlog_damage *d = e->damage;
		elog_segment_name(name, sizeof(name), d->segment_base, "log");
		snprintf(path, sizeof(path), "%s/%s", e->dir, name);
		elog_logf(store->options.log, ELOG_LOG_ERROR, "damaged data",
			  "topic=%s partition=%u file=%s byte=%" PRIu64 " bytes=%" PRIu64
			  " offsets=%" PRId64 "-%" PRId64 " reason=%s",
			  elog_logfmt_value(t, sizeof(t), topic), partition,
			  elog_logfmt_value(f, sizeof(f), path), d->position,
			  d->end_position - d->position, d->offset, d->end_offset - 1,
			  elog_logfmt_value(why, sizeof(why), d->why));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", e->dir, e->file);
	elog_logf(store->options.log, ELOG_LOG_WARN, "index rebuilt", "topic=%s partition=%u file=%s reason=%s",
		  elog_logfmt_value(t, sizeof(t), topic), partition,
		  elog_logfmt_value(f, sizeof(f), path), elog_logfmt_value(why, sizeof(why), e->why));
}

static void partition_event(void *ctx, const struct elog_partlog_event *e)
{
	const struct elog_partition *p = ctx;

	elog_store_log_event(p->store, p->topic->name, p->id, e);
}

static void meta_event(void *ctx, const struct elog_partlog_event *e)
{
	elog_store_log_event(ctx, ELOG_STORE_META_DIR, 0, e);
}

enum elog_partition_status elog_store_partition_status(const struct elog_partition *p,
						       char *detail, size_t cap)
{
	struct elog_partlog_damage d[4];
	struct elog_err why;
	uint32_t n;
	size_t used = 0;

	detail[0] = '\0';
	if (elog_partlog_failed(p->log, &why)) {
		snprintf(detail, cap, "%s", why.msg);
		return ELOG_PARTITION_FAILED;
	}
	n = elog_partlog_damage_list(p->log, d, 4);
	if (n == 0)
		return ELOG_PARTITION_OK;
	/* "offsets 100-199, 5000-5099 damaged": the ranges a reader cannot get. */
	for (uint32_t i = 0; i < n && i < 4; i++) {
		int w = snprintf(detail + used, cap - used, "%s%" PRId64 "-%" PRId64,
				 i ? ", " : "offsets ", d[i].offset, d[i].end_offset - 1);
		if (w < 0 || (size_t)w >= cap - used)
			return ELOG_PARTITION_DAMAGED;
		used += (size_t)w;
	}
	if (n > 4)
		snprintf(detail + used, cap - used, " and %u more ranges damaged", n - 4);
	else
		snprintf(detail + used, cap - used, " damaged");
	return ELOG_PARTITION_DAMAGED;
}

/* Open (or create) partition id's log with the topic's config. */
static int partition_open_log(struct elog_store *store, struct elog_partition *p,
			      struct elog_err *err)
{
	char path[PATH_BYTES];
	struct elog_partlog_config pc;
	struct elog_partlog_recovery report;

	if (elog_store_path(store, path, "%s/%u", p->topic->name, p->id) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", p->topic->name);
	elog_topic_config_to_partlog(&p->topic->config, &pc);
	pc.event = partition_event;
	pc.event_ctx = p;
	pc.written = partition_written;
	pc.written_ctx = p;
	/*
	 * Under a flusher, flush=always syncs off the owner's thread (flusher.h),
	 * in a cluster too: the Raft driver kicks the flusher after appends and
	 * learns what became durable from elog_flusher_moved.
	 */
	pc.sync_deferred = store->options.flusher != NULL;
	pc.fds = &store->fds;
	pc.hints_unsynced = 1; /* the store syncs the filesystem after opening, closing all */
	pc.create_unsynced = 1; /* elog_store_topic_grow syncs the filesystem once for all */
	if (store->options.flusher && p->topic->config.flush != ELOG_FLUSH_NEVER) {
		pc.discard = partition_discard;
		pc.discard_ctx = p;
	}
	memset(&report, 0, sizeof(report));
	if (elog_partlog_open(path, &pc, &p->log, &report, err) < 0)
		return -1;
	log_recovery(store, path, &report);
	store->created_unsynced += (uint32_t)report.created;
	if (partition_register(store, p, err) < 0) {
		elog_partlog_close(p->log);
		p->log = NULL;
		return -1;
	}
	return 0;
}

int elog_store_partition_reopen(struct elog_store *store, struct elog_partition *p,
				struct elog_err *err)
{
	/* The log's bytes do not change, so the producer state stays valid. */
	partition_close_log(store, p, 0);
	if (partition_open_log(store, p, err) < 0)
		return elog_err_prefix(err, "%s/%u", p->topic->name, p->id);
	return 0;
}

static struct elog_partition *partition_open(struct elog_store *store, struct elog_topic *t,
					     uint32_t id, struct elog_err *err)
{
	struct elog_partition *p = calloc(1, sizeof(*p));
	uint64_t batches = 0;

	if (!p) {
		elog_err_set(err, ELOG_E_NOMEM, "partition: out of memory");
		return NULL;
	}
	p->store = store;
	p->topic = t;
	p->id = id;
	elog_pstate_init(&p->pstate, store->options.producers_max);
	if (partition_open_log(store, p, err) < 0)
		goto fail;
	if (elog_pstate_rebuild(&p->pstate, p->log, &batches, err) < 0) {
		partition_close_log(store, p, 0);
		goto fail;
	}
	return p;
fail:
	elog_err_prefix(err, "%s/%u", t->name, id);
	elog_pstate_release(&p->pstate);
	free(p);
	return NULL;
}

static void partition_free(struct elog_store *store, struct elog_partition *p, int discard)
{
	if (!p)
		return;
	if (p->log)
		partition_close_log(store, p, discard);
	elog_pstate_release(&p->pstate);
	free(p);
}

static void topic_free(struct elog_store *store, struct elog_topic *t, int discard)
{
	if (!t)
		return;
	/* During replay a topic has a count but no partitions open yet. */
	for (uint32_t i = 0; t->partitions && i < t->partition_count; i++)
		if (t->partitions[i]) {
			partition_free(store, t->partitions[i], discard);
			store->partition_total--;
		}
	free(t->partitions);
	free(t->replicas);
	free(t);
}

void elog_store_topic_free(struct elog_store *store, struct elog_topic *t)
{
	topic_free(store, t, 0);
}

void elog_store_topic_discard(struct elog_store *store, struct elog_topic *t)
{
	topic_free(store, t, 1);
}

/* Open partitions [t->partition_count, count) and grow the topic to count. */
int elog_store_topic_grow(struct elog_store *store, struct elog_topic *t, uint32_t count,
			  struct elog_err *err)
{
	struct elog_partition **parts;
	char path[PATH_BYTES];

	if (count <= t->partition_count)
		return 0;
	if (elog_store_path(store, path, "%s", t->name) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", t->name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot create", path);
	parts = realloc(t->partitions, count * sizeof(*parts));
	if (!parts)
		return elog_err_set(err, ELOG_E_NOMEM, "partitions: out of memory");
	t->partitions = parts;
	while (t->partition_count < count) {
		struct elog_partition *p = partition_open(store, t, t->partition_count, err);
		if (!p)
			return -1;
		t->partitions[t->partition_count++] = p;
		store->partition_total++;
	}
	/*
	 * New logs were made without their fsyncs (create_unsynced): one syncfs
	 * makes every one durable, and the topic's directory with them, before
	 * anything is appended to them.
	 */
	if (store->created_unsynced > 0) {
		store->created_unsynced = 0;
		if (syncfs(store->lock_fd) < 0)
			return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot sync the filesystem",
					      store->dir);
		return 0;
	}
	if (elog_store_sync_path(path, err) < 0 || elog_store_sync_path(store->dir, err) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- trash */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int elog_store_remove_tree(const char *path, struct elog_err *err)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot remove", path);
	return 0;
}

static void *trash_remove_main(void *arg)
{
	struct elog_err err;

	/* A failure or an exit midway leaves files in .trash: open removes them. */
	(void)elog_store_remove_tree(arg, &err);
	free(arg);
	return NULL;
}

/*
 * Remove the tree at path on a thread of its own (a deleted topic of a
 * thousand partitions is seven thousand unlinks, seconds on a disk that
 * discards on free: the loop must not wait for them). -1 when no thread
 * could be started: the caller removes it.
 */
static int trash_remove_async(const char *path)
{
	pthread_attr_t attr;
	pthread_t th;
	char *copy = strdup(path);
	int rc;

	if (!copy || pthread_attr_init(&attr) != 0) {
		free(copy);
		return -1;
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, trash_remove_main, copy);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(copy);
		return -1;
	}
	return 0;
}

/* Move DIR/<name> into DIR/.trash (durably) and remove it there, off the
 * calling thread unless the disk is short of room. */
int elog_store_trash(struct elog_store *store, const char *name, struct elog_err *err)
{
	char from[PATH_BYTES], trash[PATH_BYTES], to[PATH_BYTES];

	if (elog_store_path(store, from, "%s", name) < 0 ||
	    elog_store_path(store, trash, "%s", ELOG_STORE_TRASH_NAME) < 0 ||
	    /* name cut: a 249-byte one and the sequence would pass NAME_MAX (255) */
	    elog_store_path(store, to, "%s/%.200s.%" PRIu64, ELOG_STORE_TRASH_NAME, name,
			    ++store->trash_seq) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", name);
	/*
	 * A full disk may have no room for .trash or for an entry in it; the
	 * delete is recorded already, so remove the directory where it is (a
	 * crash midway leaves a directory no topic owns, which open removes).
	 */
	if ((mkdir(trash, 0755) < 0 && errno != EEXIST) || rename(from, to) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOSPC || errno == EDQUOT)
			return elog_store_remove_tree(from, err);
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot move to %s", from, trash);
	}
	if (elog_store_sync_path(store->dir, err) < 0 || elog_store_sync_path(trash, err) < 0)
		return -1;
	/* In a cluster off the loop (Raft's heartbeats must not wait for
	 * thousands of unlinks), unless short of room: the space is wanted back
	 * now. A broker alone frees it at once, as the delete's answer says. */
	if (!store->options.replicated || store->space.low || trash_remove_async(to) < 0)
		return elog_store_remove_tree(to, err);
	return 0;
}

/* ---------------------------------------------------------------- lock */

static int lock_dir(struct elog_store *store, struct elog_err *err)
{
	char path[PATH_BYTES], pid[32];
	ssize_t n;
	int len;

	if (elog_store_path(store, path, "%s", ELOG_STORE_LOCK_NAME) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", store->dir);
	store->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (store->lock_fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	if (flock(store->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int saved = errno;
		if (saved != EWOULDBLOCK)
			return elog_err_errno(err, ELOG_E_IO, saved, "%s: cannot lock", path);
		n = pread(store->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		return elog_err_set(err, ELOG_E_BUSY, "%s: in use by another broker (pid %s)",
				    store->dir, pid[0] ? pid : "unknown");
	}
	/*
	 * The pid is for the "in use" message only. It is written over the old
	 * one before the file is cut to its length, so that a full disk (no
	 * room for a new block) still starts: at worst the message says
	 * "unknown".
	 */
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (pwrite(store->lock_fd, pid, (size_t)len, 0) != len) {
		if (errno != ENOSPC && errno != EDQUOT)
			return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot write", path);
		len = 0;
	}
	if (ftruncate(store->lock_fd, len) < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot write", path);
	return 0;
}

/* ---------------------------------------------------------------- open/close */

/* Unknown topic directories looked at per start (more are left alone, and warned of). */
#define LEFTOVERS_MAX 1024

static int name_sort(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories in DIR that look like topics the metadata does not know. */
static int unknown_dirs(struct elog_store *store, char ***names, size_t *count,
			struct elog_err *err)
{
	DIR *d = opendir(store->dir);
	struct dirent *e;
	int rc = 0;

	*names = NULL;
	*count = 0;
	if (!d)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot list", store->dir);
	while (rc == 0 && (e = readdir(d)) != NULL && *count < LEFTOVERS_MAX) {
		const char *n = e->d_name;
		char **grown;
		if (n[0] == '.' || strcmp(n, ELOG_STORE_META_DIR) == 0 ||
		    elog_store_name_check(n, strlen(n), NULL) < 0 || elog_store_find(store, n, strlen(n)))
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
			continue;
		grown = realloc(*names, (*count + 1) * sizeof(**names));
		if (!grown || !(grown[*count] = strdup(n))) {
			if (grown)
				*names = grown;
			rc = elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory listing", store->dir);
			break;
		}
		*names = grown;
		(*count)++;
	}
	closedir(d);
	if (*count > 1)
		qsort(*names, *count, sizeof(**names), name_sort);
	return rc;
}

/*
 * Remove what a crash left behind: .trash, and the directory of a topic
 * whose last metadata record is its delete (a delete recorded before its
 * directory went). Any other topic directory the metadata does not know is
 * left alone: its topic may have been lost with metadata that was cut or
 * damaged, and the data in it must not go with it.
 */
static int clean_leftovers(struct elog_store *store, struct elog_err *err)
{
	char v[ELOG_LOG_VALUE_MAX], trash[PATH_BYTES];
	char **names = NULL;
	unsigned char *deleted = NULL;
	size_t count = 0;
	int rc = unknown_dirs(store, &names, &count, err);

	if (rc == 0 && count && !(deleted = calloc(count, 1)))
		rc = elog_err_set(err, ELOG_E_NOMEM, "%s: out of memory", store->dir);
	if (rc == 0 && count && !store->meta_cut)
		rc = elog_store_meta_deleted(store, names, count, deleted, err);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		if (!deleted[i]) {
			elog_logf(store->options.log, ELOG_LOG_WARN,
				  "topic directory not in the metadata log: left alone",
				  "topic=%s reason=%s", elog_logfmt_value(v, sizeof(v), names[i]),
				  store->meta_cut ? "\"the metadata log was cut at this start\""
						  : "\"no record of its topic\"");
			continue;
		}
		elog_logf(store->options.log, ELOG_LOG_WARN, "removing the directory of a deleted topic",
			  "topic=%s", elog_logfmt_value(v, sizeof(v), names[i]));
		rc = elog_store_trash(store, names[i], err);
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(deleted);
	if (rc == 0 && elog_store_path(store, trash, "%s", ELOG_STORE_TRASH_NAME) == 0)
		rc = elog_store_remove_tree(trash, err);
	return rc;
}

int elog_store_meta_open(struct elog_store *store, struct elog_err *err)
{
	char path[PATH_BYTES];
	struct elog_partlog_config pc;
	struct elog_partlog_recovery report;

	if (elog_store_path(store, path, "%s", ELOG_STORE_META_DIR) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", store->dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot create", path);
	if (elog_store_path(store, path, "%s/0", ELOG_STORE_META_DIR) < 0)
		return elog_err_set(err, ELOG_E_INVAL, "%s: path too long", store->dir);
	elog_partlog_config_default(&pc);
	/*
	 * The metadata log alone still syncs on the owner's thread (no
	 * sync_deferred): its records are rare and small, and each is acted on
	 * as soon as it is appended, so waiting for the flusher would buy
	 * nothing but a round trip.
	 */
	pc.flush = ELOG_FLUSH_ALWAYS;
	pc.event = meta_event;
	pc.event_ctx = store;
	pc.preallocate_bytes = ELOG_STORE_META_PREALLOCATE;
	memset(&report, 0, sizeof(report));
	if (elog_partlog_open(path, &pc, &store->meta, &report, err) < 0)
		return -1;
	store->meta_cut |= report.truncated_bytes > 0;
	log_recovery(store, path, &report);
	return 0;
}

/* Damage in the metadata log stops the start: one line with the file and byte. */
static int meta_check_damage(struct elog_store *store, struct elog_err *err)
{
	struct elog_partlog_damage d;
	char name[32];

	if (elog_partlog_damage_list(store->meta, &d, 1) == 0)
		return 0;
	elog_segment_name(name, sizeof(name), d.segment_base, "log");
	return elog_err_set(err, ELOG_E_DAMAGED,
			    "%s/%s/0/%s: byte %" PRIu64 ": metadata log damaged (offsets %" PRId64
			    "-%" PRId64 "): see \"Damaged metadata log\" in docs/operations.md",
			    store->dir, ELOG_STORE_META_DIR, name, d.position, d.offset,
			    d.end_offset - 1);
}

/* Replay the metadata log; if it is damaged or does not apply, salvage it when asked. */
static int meta_load(struct elog_store *store, struct elog_err *err)
{
	char why[ELOG_LOG_VALUE_MAX];

	if (meta_check_damage(store, err) == 0 && elog_store_meta_replay(store, err) == 0)
		return 0;
	if (err->code == ELOG_E_DAMAGED && elog_partlog_damage_list(store->meta, NULL, 0))
		meta_check_damage(store, err); /* found during the replay: name the file and byte */
	if (!store->options.salvage_metadata)
		return -1;
	elog_logf(store->options.log, ELOG_LOG_WARN, "salvaging the metadata log", "reason=%s",
		  elog_logfmt_value(why, sizeof(why), err->msg));
	return elog_store_meta_salvage(store, err);
}

int elog_store_open_partitions(struct elog_store *store, struct elog_err *err)
{
	for (uint32_t i = 0; i < store->topic_count; i++) {
		struct elog_topic *t = store->topics[i];
		uint32_t count = t->partition_count;
		t->partition_count = 0;
		if (elog_store_topic_grow(store, t, count, err) < 0)
			return -1;
	}
	return 0;
}

int elog_store_open(const char *dir, const struct elog_store_options *options,
		    struct elog_store **out, struct elog_err *err)
{
	struct elog_store *store = calloc(1, sizeof(*store));

	*out = NULL;
	if (!store || !(store->dir = strdup(dir))) {
		free(store);
		return elog_err_set(err, ELOG_E_NOMEM, "store: out of memory");
	}
	store->lock_fd = -1;
	store->options = *options;
	elog_partlog_fds_init(&store->fds, options->fd_budget);
	store->trash_seq = (uint64_t)time(NULL);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot create", dir);
		goto fail;
	}
	if (lock_dir(store, err) < 0 || elog_store_meta_open(store, err) < 0)
		goto fail;
	/* Replicated: the driver loads what is committed (elog_store_meta_load). */
	if (!options->replicated &&
	    (meta_load(store, err) < 0 || clean_leftovers(store, err) < 0 ||
	     elog_store_open_partitions(store, err) < 0))
		goto fail;
	if (elog_store_space_refresh(store, err) < 0)
		goto fail;
	/* One sync for the recovery points the partitions settled unsynced. */
	syncfs(store->lock_fd);
	*out = store;
	return 0;
fail:
	elog_store_close(store);
	return -1;
}

void elog_store_close(struct elog_store *store)
{
	if (!store)
		return;
	for (uint32_t i = 0; i < store->topic_count; i++)
		elog_store_topic_free(store, store->topics[i]);
	free(store->topics);
	elog_store_meta_check(store);
	elog_partlog_close(store->meta);
	/* The partitions' recovery points were written unsynced (hints_unsynced). */
	if (store->lock_fd >= 0) {
		syncfs(store->lock_fd);
		close(store->lock_fd);
	}
	free(store->dir);
	free(store);
}

/* ---------------------------------------------------------------- retention */

uint32_t elog_store_retain(struct elog_store *store, int64_t now_ms, uint32_t *segments_deleted)
{
	uint32_t failures = 0, total = 0;
	char v[ELOG_LOG_VALUE_MAX], why[ELOG_LOG_VALUE_MAX];

	for (uint32_t i = 0; i < store->topic_count; i++) {
		struct elog_topic *t = store->topics[i];
		for (uint32_t k = 0; k < t->partition_count; k++) {
			struct elog_partition *p = t->partitions[k];
			struct elog_err err;
			uint32_t deleted = 0;
			/* A failed log is logged once (partition failed), not every round. */
			if (elog_partlog_failed(p->log, NULL)) {
				elog_store_partition_check(store, p);
				continue;
			}
			int64_t limit = store->retain_limit && p->replication
						? store->retain_limit(store->retain_ctx, p)
						: INT64_MAX;
			if (elog_partlog_retain_upto(p->log, now_ms, limit, &deleted, &err) < 0) {
				failures++;
				if (elog_partlog_failed(p->log, NULL))
					elog_store_partition_check(store, p);
				else
					elog_logf(store->options.log, ELOG_LOG_ERROR, "retention failed",
						  "topic=%s partition=%u error=%s",
						  elog_logfmt_value(v, sizeof(v), t->name), k,
						  elog_logfmt_value(why, sizeof(why), err.msg));
			}
			if (deleted && store->retained && p->replication)
				store->retained(store->retain_ctx, p);
			if (deleted)
				elog_logf(store->options.log, ELOG_LOG_INFO, "retention",
					  "topic=%s partition=%u segments_deleted=%u start_offset=%" PRId64,
					  elog_logfmt_value(v, sizeof(v), t->name), k, deleted,
					  elog_partlog_start_offset(t->partitions[k]->log));
			total += deleted;
		}
	}
	if (segments_deleted)
		*segments_deleted = total;
	if (total)
		elog_store_space_refresh(store, NULL); /* room may be back */
	return failures;
}

/* ---------------------------------------------------------------- purge */

int elog_store_purge(struct elog_store *store, struct elog_partition *p, int64_t offset,
		     struct elog_err *err)
{
	char v[ELOG_LOG_VALUE_MAX], why[ELOG_LOG_VALUE_MAX];
	int64_t before = elog_partlog_start_offset(p->log);
	uint64_t size = elog_partlog_size_bytes(p->log), freed;
	struct elog_err later;
	int rc = elog_partlog_start_set(p->log, offset, err);

	/* The start is durable: what lies wholly below it goes now, not at the next round. */
	if (rc == 0 && elog_partlog_retain_purged(p->log, NULL, &later) < 0 &&
	    !elog_partlog_failed(p->log, NULL))
		elog_logf(store->options.log, ELOG_LOG_ERROR, "retention failed",
			  "topic=%s partition=%u error=%s",
			  elog_logfmt_value(v, sizeof(v), p->topic->name), p->id,
			  elog_logfmt_value(why, sizeof(why), later.msg));
	elog_store_partition_check(store, p);
	/* A purge that found no room may still have deleted segments (partlog.h). */
	freed = size - elog_partlog_size_bytes(p->log);
	if (elog_partlog_start_offset(p->log) != before)
		elog_logf(store->options.log, ELOG_LOG_INFO, "records purged",
			  "topic=%s partition=%u start_offset_before=%" PRId64 " start_offset=%" PRId64
			  " bytes_deleted=%" PRIu64 "%s",
			  elog_logfmt_value(v, sizeof(v), p->topic->name), p->id, before,
			  elog_partlog_start_offset(p->log), freed,
			  rc < 0 ? " reason=\"no room for log.start: only whole segments were deleted\"" : "");
	if (freed)
		elog_store_space_refresh(store, NULL); /* room may be back */
	return rc;
}
