/*
 * Unit tests: store — topic config keys (parse, check, format, round
 * trip), the directory lock, topics created/altered/deleted and replayed
 * from the metadata log, producer ids never reused, the leftovers a crash
 * between a metadata record and its directory change leaves (and the
 * directories no record explains, left alone), damage in the metadata log
 * (refused; salvaged on request), a partition's damage status, and a full
 * disk: the free-space states, failed logs logged once, and a store that
 * reopens and deletes on a disk with no room left.
 */
#include "t.h"
#include "batch.h"
#include "partlog_int.h" /* test_failure_logged_once swaps a segment's descriptor */
#include "segment.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Append one small batch to a log. */
static int append_one(struct elog_partlog *log, struct elog_err *err)
{
	static uint8_t value[2000];
	struct elog_batch_builder b;
	struct elog_record r = {1, NULL, -1, value, (int32_t)sizeof(value), NULL, 0};
	const uint8_t *out;
	uint8_t *copy = NULL;
	size_t len;
	int rc = -1;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	if (elog_batch_builder_add(&b, &r, err) == 0 &&
	    elog_batch_builder_finish(&b, &out, &len, err) == 0 && (copy = malloc(len))) {
		memcpy(copy, out, len);
		rc = elog_partlog_append(log, copy, len, 0, NULL, err);
	}
	free(copy);
	elog_batch_builder_release(&b);
	return rc;
}

static void test_config_keys(void)
{
	struct elog_topic_config c, d;
	struct elog_err err;
	char v[ELOG_TOPIC_CONFIG_VALUE_MAX];

	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "7d", &err), &err);
	T_EQ_INT(c.retention_ms, 7 * 86400000LL);
	T_OK(elog_topic_config_set(&c, "retention.ms", "1500", &err), &err);
	T_EQ_INT(c.retention_ms, 1500);
	T_OK(elog_topic_config_set(&c, "retention.bytes", "1G", &err), &err);
	T_EQ_INT(c.retention_bytes, 1LL << 30);
	T_OK(elog_topic_config_set(&c, "flush", "250ms", &err), &err);
	T_CHECK(c.flush == ELOG_FLUSH_INTERVAL && c.flush_interval_ms == 250);
	T_OK(elog_topic_config_set(&c, "flush", "always", &err), &err);
	T_CHECK(c.flush == ELOG_FLUSH_ALWAYS);
	T_OK(elog_topic_config_set(&c, "segment.bytes", "1M", &err), &err);
	T_CHECK(elog_topic_config_set(&c, "segment.bytes", "12", &err) < 0);
	T_CHECK(strncmp(err.msg, "segment.bytes: ", 15) == 0);
	T_CHECK(elog_topic_config_set(&c, "flush", "0", &err) < 0);
	T_CHECK(elog_topic_config_set(&c, "colour", "blue", &err) < 0);
	T_CHECK(strcmp(err.msg, "unknown config key \"colour\"") == 0);
	T_OK(elog_topic_config_set(&c, "max.record.bytes", "32M", &err), &err);
	T_CHECK(elog_topic_config_check(&c, &err) < 0);
	T_OK(elog_topic_config_set(&c, "max.record.bytes", "1k", &err), &err);
	T_OK(elog_topic_config_check(&c, &err), &err);
	/* every key formats to text that parses back to the same value */
	elog_topic_config_default(&d);
	for (size_t i = 0; i < ELOG_TOPIC_CONFIG_KEYS; i++) {
		char w[ELOG_TOPIC_CONFIG_VALUE_MAX];
		elog_topic_config_get(&c, i, v, sizeof(v));
		T_OK(elog_topic_config_set(&d, elog_topic_config_key(i), v, &err), &err);
		elog_topic_config_get(&d, i, w, sizeof(w));
		T_CHECK(strcmp(v, w) == 0);
	}
	T_CHECK(d.flush == ELOG_FLUSH_ALWAYS && d.retention_bytes == 1LL << 30);
	elog_format_duration_ms(90000, v, sizeof(v));
	T_CHECK(strcmp(v, "90s") == 0);
	elog_format_duration_ms(7200000, v, sizeof(v));
	T_CHECK(strcmp(v, "2h") == 0);
}

static struct elog_store *open_store(const char *dir, struct elog_err *err)
{
	struct elog_store_options o;
	struct elog_store *s = NULL;

	elog_store_options_default(&o);
	o.topic_partitions_max = 8;
	o.partitions_max = 12;
	if (elog_store_open(dir, &o, &s, err) < 0)
		return NULL;
	return s;
}

static void test_lock(void)
{
	char dir[4200];
	struct elog_store *a, *b;
	struct elog_err err;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	a = open_store(dir, &err);
	T_ASSERT(a);
	b = open_store(dir, &err);
	T_CHECK(!b && err.code == ELOG_E_BUSY);
	T_CHECK(strstr(err.msg, "in use by another broker (pid ") != NULL);
	elog_store_close(a);
	b = open_store(dir, &err);
	T_CHECK(b != NULL);
	elog_store_close(b);
}

static void test_topics_replay(void)
{
	char dir[4200], path[4300];
	struct elog_store *s;
	struct elog_topic *t;
	struct elog_topic_config c;
	struct elog_err err;
	struct stat st;
	int64_t id1, id2;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "1h", &err), &err);
	T_OK(elog_store_create(s, "a", 1, 2, &c, &t, &err), &err);
	T_CHECK(elog_store_create(s, "a", 1, 1, &c, NULL, &err) < 0 && err.code == ELOG_E_BUSY);
	T_CHECK(elog_store_create(s, ".x", 2, 1, &c, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
	T_CHECK(elog_store_create(s, "__x", 3, 1, &c, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
	T_CHECK(elog_store_create(s, "big", 3, 9, &c, NULL, &err) < 0 && err.code == ELOG_E_INVAL);
	T_OK(elog_store_create(s, "b", 1, 8, &c, NULL, &err), &err);
	T_CHECK(elog_store_create(s, "c", 1, 3, &c, NULL, &err) < 0 && err.code == ELOG_E_LIMIT);
	T_OK(elog_store_create(s, "c", 1, 1, &c, NULL, &err), &err);
	T_OK(elog_topic_config_set(&c, "flush", "never", &err), &err);
	T_OK(elog_store_alter(s, t, 3, &c, &err), &err);
	T_CHECK(elog_store_alter(s, t, 2, &c, &err) < 0 && err.code == ELOG_E_INVAL);
	T_OK(elog_store_delete(s, elog_store_find(s, "c", 1), &err), &err);
	T_OK(elog_store_producer_id(s, &id1, &err), &err);
	elog_store_close(s);

	T_ASSERT((s = open_store(dir, &err)) != NULL);
	T_EQ_INT(s->topic_count, 2);
	t = elog_store_find(s, "a", 1);
	T_ASSERT(t);
	T_EQ_INT(t->partition_count, 3);
	T_CHECK(t->config.flush == ELOG_FLUSH_NEVER && t->config.retention_ms == 3600000);
	T_CHECK(elog_store_find(s, "c", 1) == NULL);
	T_CHECK(elog_store_partition(s, "a", 1, 2) != NULL);
	T_CHECK(elog_store_partition(s, "a", 1, 3) == NULL);
	snprintf(path, sizeof(path), "%s/c", dir);
	T_CHECK(stat(path, &st) < 0);
	T_OK(elog_store_producer_id(s, &id2, &err), &err);
	T_CHECK(id2 > id1);
	elog_store_close(s);
}

/*
 * A delete recorded whose directory is still there, and a stale .trash:
 * both are gone after the next open. A topic directory the metadata log
 * never named is left alone, and its name cannot be created over it.
 */
static void test_leftovers(void)
{
	char dir[4200], path[4300];
	struct elog_store *s;
	struct elog_topic_config c;
	struct elog_err err;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_store_create(s, "keep", 4, 1, &c, NULL, &err), &err);
	T_OK(elog_store_create(s, "ghost", 5, 1, &c, NULL, &err), &err);
	T_OK(elog_store_delete(s, elog_store_find(s, "ghost", 5), &err), &err);
	elog_store_close(s);
	/* the deleted topic's directory, as if the delete's rename never happened */
	snprintf(path, sizeof(path), "%s/ghost", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/ghost/0", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	/* a directory no record names */
	snprintf(path, sizeof(path), "%s/stranger", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/stranger/0", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/.trash", dir);
	T_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/.trash/old.1", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	snprintf(path, sizeof(path), "%s/ghost", dir);
	T_CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/.trash/old.1", dir);
	T_CHECK(stat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/keep/0/log.meta", dir);
	T_CHECK(stat(path, &st) == 0);
	snprintf(path, sizeof(path), "%s/stranger/0", dir);
	T_CHECK(stat(path, &st) == 0);
	T_CHECK(elog_store_find(s, "stranger", 8) == NULL);
	T_CHECK(elog_store_create(s, "stranger", 8, 1, &c, NULL, &err) < 0 &&
		err.code == ELOG_E_BUSY && strstr(err.msg, "directory exists"));
	T_OK(elog_store_create(s, "ghost", 5, 1, &c, NULL, &err), &err);
	elog_store_close(s);
}

/* Byte positions of the metadata log's batches (one record each), in order. */
static size_t meta_batches(const char *dir, uint64_t *pos, size_t cap)
{
	char path[4300];
	struct elog_segment_scanner sc;
	struct elog_batch_header h;
	const uint8_t *batch;
	struct elog_err err;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/__meta/0/00000000000000000000.log", dir);
	if (elog_segment_scanner_open(&sc, path, 0, &err) < 0)
		return 0;
	while (n < cap && elog_segment_scanner_next(&sc, &h, &batch, &err) == 1) {
		pos[n++] = sc.position;
		elog_segment_scanner_advance(&sc, &h);
	}
	elog_segment_scanner_release(&sc);
	return n;
}

static int meta_flip(const char *dir, uint64_t at)
{
	char path[4300];
	uint8_t b;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/__meta/0/00000000000000000000.log", dir);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	ok = pread(fd, &b, 1, (off_t)at) == 1;
	b ^= 0xff;
	ok = ok && pwrite(fd, &b, 1, (off_t)at) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Damage in the metadata log stops the open with the file and byte, and
 * changes nothing; salvage_metadata rebuilds it from the intact records and
 * the directories, keeping the damaged log aside.
 */
static void test_meta_damage_and_salvage(void)
{
	char dir[4200], path[4300];
	struct elog_store_options o;
	struct elog_store *s;
	struct elog_topic *t;
	struct elog_topic_config c;
	struct elog_err err;
	struct stat st;
	uint64_t pos[16];
	int64_t id1, id2;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_topic_config_set(&c, "retention.ms", "1h", &err), &err);
	T_OK(elog_store_create(s, "a", 1, 2, &c, NULL, &err), &err);   /* record 0 */
	T_OK(elog_store_create(s, "b", 1, 1, &c, NULL, &err), &err);   /* record 1 */
	T_OK(elog_store_create(s, "c", 1, 1, &c, NULL, &err), &err);   /* record 2 */
	T_OK(elog_store_delete(s, elog_store_find(s, "c", 1), &err), &err); /* record 3 */
	T_OK(elog_store_alter(s, elog_store_find(s, "b", 1), 3, &c, &err), &err); /* record 4 */
	T_OK(elog_store_producer_id(s, &id1, &err), &err);             /* record 5 */
	elog_store_close(s);
	T_EQ_INT(meta_batches(dir, pos, 16), 6);
	/* the create of "a" damaged: the open refuses, naming the file and byte */
	T_ASSERT(meta_flip(dir, pos[0] + 40) == 0);
	T_CHECK(open_store(dir, &err) == NULL && err.code == ELOG_E_DAMAGED);
	T_CHECK(strstr(err.msg, "__meta/0/00000000000000000000.log: byte 0: metadata log damaged") &&
		strstr(err.msg, "docs/operations.md"));
	snprintf(path, sizeof(path), "%s/a/1/log.meta", dir);
	T_CHECK(stat(path, &st) == 0); /* nothing removed */
	T_CHECK(open_store(dir, &err) == NULL && err.code == ELOG_E_DAMAGED); /* and again */
	/* salvaged: "a" adopted from its directory, "b" as recorded, "c" stays deleted */
	elog_store_options_default(&o);
	o.topic_partitions_max = 8;
	o.partitions_max = 12;
	o.salvage_metadata = 1;
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	T_EQ_INT(s->topic_count, 2);
	T_ASSERT((t = elog_store_find(s, "a", 1)) != NULL);
	T_EQ_INT(t->partition_count, 2);
	T_EQ_INT(t->config.retention_ms, -1); /* its config was in the lost record */
	T_ASSERT((t = elog_store_find(s, "b", 1)) != NULL);
	T_EQ_INT(t->partition_count, 3);
	T_EQ_INT(t->config.retention_ms, 3600000);
	T_CHECK(elog_store_find(s, "c", 1) == NULL);
	T_OK(elog_store_producer_id(s, &id2, &err), &err);
	T_CHECK(id2 > id1);
	elog_store_close(s);
	snprintf(path, sizeof(path), "%s/__meta/0.damaged-1/00000000000000000000.log", dir);
	T_CHECK(stat(path, &st) == 0);
	/* the new metadata log opens as any other */
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	T_EQ_INT(s->topic_count, 2);
	elog_store_close(s);
	/* the delete of "c" damaged, its directory gone: salvage does not bring "c" back */
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	T_OK(elog_store_create(s, "d", 1, 1, &c, NULL, &err), &err);
	T_OK(elog_store_delete(s, elog_store_find(s, "d", 1), &err), &err);
	elog_store_close(s);
	/* a, b, producer ids (salvage's, then id2's), create d, delete d */
	T_EQ_INT(meta_batches(dir, pos, 16), 6);
	T_ASSERT(meta_flip(dir, pos[5] + 40) == 0);
	T_CHECK(open_store(dir, &err) == NULL && err.code == ELOG_E_DAMAGED);
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	T_CHECK(elog_store_find(s, "d", 1) == NULL);
	T_EQ_INT(s->topic_count, 2);
	elog_store_close(s);
	snprintf(path, sizeof(path), "%s/__meta/0.damaged-2", dir);
	T_CHECK(stat(path, &st) == 0);
}

/* A torn tail of the metadata log is cut, and then no directory is removed. */
static void test_meta_torn_tail(void)
{
	char dir[4200], path[4300];
	struct elog_store *s;
	struct elog_topic_config c;
	struct elog_err err;
	struct stat st;
	uint64_t pos[16];

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_store_create(s, "a", 1, 1, &c, NULL, &err), &err);
	T_OK(elog_store_create(s, "b", 1, 1, &c, NULL, &err), &err);
	elog_store_close(s);
	T_EQ_INT(meta_batches(dir, pos, 16), 2);
	/* as a crash would leave it: the last record torn, no durable end past the first */
	snprintf(path, sizeof(path), "%s/__meta/0/00000000000000000000.log", dir);
	T_ASSERT(truncate(path, (off_t)pos[1] + 30) == 0);
	snprintf(path, sizeof(path), "%s/__meta/0/recovery.point", dir);
	T_ASSERT(unlink(path) == 0);
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	T_CHECK(s->meta_cut);
	T_CHECK(elog_store_find(s, "b", 1) == NULL);
	snprintf(path, sizeof(path), "%s/b/0/log.meta", dir);
	T_CHECK(stat(path, &st) == 0); /* its directory is left alone */
	elog_store_close(s);
}

/* Partition status: damaged offsets listed, failed with the reason. */
static void test_partition_status(void)
{
	char dir[4200], detail[256];
	struct elog_store *s;
	struct elog_topic_config c;
	struct elog_partition *p;
	struct elog_batch_builder b;
	struct elog_err err;
	const uint8_t *out;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	T_ASSERT((s = open_store(dir, &err)) != NULL);
	elog_topic_config_default(&c);
	T_OK(elog_store_create(s, "t", 1, 1, &c, NULL, &err), &err);
	p = elog_store_partition(s, "t", 1, 0);
	T_ASSERT(p);
	T_EQ_INT(elog_store_partition_status(p, detail, sizeof(detail)), ELOG_PARTITION_OK);
	T_CHECK(detail[0] == '\0');
	for (int k = 0; k < 3; k++) {
		struct elog_record r = {1000, NULL, -1, (const uint8_t *)"v", 1, NULL, 0};
		uint8_t copy[256];
		elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
		T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		T_OK(elog_batch_builder_add(&b, &r, &err), &err);
		T_OK(elog_batch_builder_finish(&b, &out, &len, &err), &err);
		T_ASSERT(len <= sizeof(copy));
		memcpy(copy, out, len);
		T_OK(elog_partlog_append(p->log, copy, len, 0, NULL, &err), &err);
		elog_batch_builder_release(&b);
	}
	T_OK(elog_partlog_mark_damaged(p->log, 3, "test", &err), &err);
	T_EQ_INT(elog_store_partition_status(p, detail, sizeof(detail)), ELOG_PARTITION_DAMAGED);
	T_CHECK(strcmp(detail, "offsets 2-3 damaged") == 0);
	elog_store_close(s);
}

/* ---------------------------------------------------------------- a full disk */

/* Log lines into memory, to count them. */
struct captured {
	char *text;
	size_t len;
	struct elog_logger logger;
};

static void capture_start(struct captured *c)
{
	c->text = NULL;
	c->len = 0;
	c->logger.out = open_memstream(&c->text, &c->len);
	c->logger.level = ELOG_LOG_DEBUG;
}

static int capture_count(struct captured *c, const char *needle)
{
	int n = 0;

	fflush(c->logger.out);
	for (const char *p = c->text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void capture_end(struct captured *c)
{
	fclose(c->logger.out);
	free(c->text);
}

/*
 * The reserve: low and ok again are one line each per change, not per
 * request or measurement. (On a tmpfs of its own, so that nothing else
 * changes the free space: needs root, skipped otherwise.)
 */
static void space_states_body(const char *dir, struct captured *cap)
{
	struct elog_store_options o;
	struct elog_store *s;
	struct elog_err err, why;
	char spare[4300];
	static uint8_t block[1 << 16];
	int fd;

	elog_store_options_default(&o);
	o.min_free_bytes = 1ull << 50; /* more than any disk here has */
	o.log = &cap->logger;
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	T_CHECK(elog_store_space_low(s));
	for (int i = 0; i < 3; i++) {
		T_CHECK(elog_store_space_reserve(s, 100, &err) < 0 && err.code == ELOG_E_NOSPACE);
		T_CHECK(strncmp(err.msg, "broker storage is full: ", 24) == 0);
		T_CHECK(elog_store_space_refresh(s, &err) == 0);
	}
	T_EQ_INT(capture_count(cap, "msg=\"disk space low\""), 1);
	T_CHECK(capture_count(cap, "level=warn msg=\"disk space low\"") == 1);
	/* the reserve lowered: ok again at the next measurement */
	s->options.min_free_bytes = 0;
	T_OK(elog_store_space_refresh(s, &err), &err);
	T_CHECK(!elog_store_space_low(s));
	T_OK(elog_store_space_reserve(s, 100, &err), &err);
	T_EQ_INT(capture_count(cap, "level=warn msg=\"disk space ok again\""), 1);
	/*
	 * A write that found no room though the measure says there is (inodes,
	 * quota, file size limit): low, with its reason, until the free space
	 * grew by the margin, not at the next measurement.
	 */
	snprintf(spare, sizeof(spare), "%s/spare", dir);
	fd = open(spare, O_WRONLY | O_CREAT, 0644);
	T_ASSERT(fd >= 0);
	for (int i = 0; i < 32; i++) /* 2 MiB */
		T_CHECK(write(fd, block, sizeof(block)) == (ssize_t)sizeof(block));
	close(fd);
	T_OK(elog_store_space_refresh(s, &err), &err);
	elog_err_set(&why, ELOG_E_NOSPACE, "x.log: cannot write: No space left on device");
	elog_store_space_exhausted(s, &why);
	elog_store_space_exhausted(s, &why);
	T_CHECK(elog_store_space_low(s));
	T_CHECK(elog_store_space_reserve(s, 1, &err) < 0 && err.code == ELOG_E_NOSPACE);
	T_EQ_INT(capture_count(cap, "reason=\"x.log: cannot write: No space left on device\""), 1);
	T_OK(elog_store_space_refresh(s, &err), &err);
	T_CHECK(elog_store_space_low(s));
	T_EQ_INT(capture_count(cap, "msg=\"disk space ok again\""), 1);
	T_ASSERT(unlink(spare) == 0);
	T_OK(elog_store_space_refresh(s, &err), &err);
	T_CHECK(!elog_store_space_low(s));
	T_EQ_INT(capture_count(cap, "msg=\"disk space low\""), 2);
	T_EQ_INT(capture_count(cap, "msg=\"disk space ok again\""), 2);
	elog_store_close(s);
}

/* A tmpfs of its own on a fresh directory; 0, or -1 (with a skip note) without root. */
static int tmpfs_mount(char *dir, size_t cap, const char *options)
{
	snprintf(dir, cap, "%s", t_tmpdir());
	if (mount("tmpfs", dir, "tmpfs", 0, options) == 0)
		return 0;
	fprintf(stderr, "# skip %s: cannot mount a tmpfs (%s): needs root\n", t_current,
		strerror(errno));
	return -1;
}

static void test_space_states(void)
{
	struct captured cap;
	char dir[4200];

	if (tmpfs_mount(dir, sizeof(dir), "size=16m") < 0)
		return;
	capture_start(&cap);
	space_states_body(dir, &cap);
	capture_end(&cap);
	T_CHECK(umount2(dir, MNT_DETACH) == 0);
}

/* A partition whose log failed is logged once, at error, however often it is seen. */
static void failure_once_body(struct captured *cap)
{
	char dir[4200], path[4300];
	struct elog_store_options o;
	struct elog_store *s;
	struct elog_topic_config c;
	struct elog_topic *t;
	struct elog_err err;
	int ro;

	snprintf(dir, sizeof(dir), "%s/data", t_tmpdir());
	elog_store_options_default(&o);
	o.log = &cap->logger;
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	elog_topic_config_default(&c);
	T_OK(elog_store_create(s, "f", 1, 1, &c, &t, &err), &err);
	/* the segment's descriptor turns read-only: the next write fails with EBADF */
	snprintf(path, sizeof(path), "%s/f/0/00000000000000000000.log", dir);
	ro = open(path, O_RDONLY);
	T_ASSERT(ro >= 0);
	T_ASSERT(dup2(ro, t->partitions[0]->log->segments[0].fd) >= 0);
	close(ro);
	T_CHECK(append_one(t->partitions[0]->log, &err) < 0 && err.code == ELOG_E_IO);
	elog_store_failures_log(s);
	elog_store_partition_check(s, t->partitions[0]);
	elog_store_failures_log(s);
	T_CHECK(elog_store_retain(s, 0, NULL) == 0);
	elog_store_close(s);
	T_EQ_INT(capture_count(cap, "level=error msg=\"partition failed\" topic=f partition=0 "
				    "error=\"00000000000000000000.log: cannot write"), 1);
	T_EQ_INT(capture_count(cap, "level=error"), 1);
}

static void test_failure_logged_once(void)
{
	struct captured cap;

	capture_start(&cap);
	failure_once_body(&cap);
	capture_end(&cap);
}

/*
 * A real full disk (a tmpfs; needs root, skipped otherwise): the store
 * reopens on it, a topic that cannot be made leaves nothing behind, and a
 * delete goes through (the metadata log's preallocated reserve), freeing
 * room for new topics.
 */
static void full_disk_body(const char *dir)
{
	struct elog_store_options o;
	struct elog_store *s;
	struct elog_topic_config c;
	struct elog_topic *t;
	struct elog_err err;
	char path[4300], inodes[64];
	static uint8_t block[4096];
	struct statvfs st;
	int fd, rc;

	elog_store_options_default(&o);
	o.min_free_bytes = 0;
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	elog_topic_config_default(&c);
	T_OK(elog_store_create(s, "big", 3, 1, &c, &t, &err), &err);
	while ((rc = append_one(t->partitions[0]->log, &err)) == 0)
		;
	T_CHECK(err.code == ELOG_E_NOSPACE && !elog_partlog_failed(t->partitions[0]->log, NULL));
	snprintf(path, sizeof(path), "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	T_ASSERT(fd >= 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	close(fd);
	/* no room for a topic: refused before anything is recorded */
	T_CHECK(elog_store_create(s, "new", 3, 2, &c, NULL, &err) < 0 &&
		err.code == ELOG_E_NOSPACE);
	T_CHECK(strncmp(err.msg, "broker storage is full: ", 24) == 0);
	T_CHECK(elog_store_find(s, "new", 3) == NULL);
	elog_store_close(s);
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	T_CHECK(elog_store_find(s, "new", 3) == NULL);
	T_ASSERT((t = elog_store_find(s, "big", 3)) != NULL);
	T_CHECK(elog_partlog_next_offset(t->partitions[0]->log) > 0);
	/* metadata records still go in: 100 blocks of producer ids, about 10 KiB */
	for (int i = 0; i < 100 * ELOG_STORE_PRODUCER_ID_BLOCK; i++) {
		int64_t id;
		T_OK(elog_store_producer_id(s, &id, &err), &err);
	}
	/* the delete is recorded on the full disk, and frees room */
	T_OK(elog_store_delete(s, t, &err), &err);
	T_ASSERT(unlink(path) == 0);
	/* a topic whose files find no room (out of inodes) is undone, and stays undone */
	T_ASSERT(statvfs(dir, &st) == 0);
	snprintf(inodes, sizeof(inodes), "nr_inodes=%llu",
		 (unsigned long long)(st.f_files - st.f_ffree + 2));
	T_ASSERT(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, inodes) == 0);
	/* (the name, as from the wire, is not NUL-terminated) */
	T_CHECK(elog_store_create(s, "half-and-more", 4, 2, &c, NULL, &err) < 0 &&
		err.code == ELOG_E_NOSPACE);
	T_CHECK(elog_store_find(s, "half", 4) == NULL);
	T_ASSERT(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "nr_inodes=10000") == 0);
	T_OK(elog_store_create(s, "new", 3, 2, &c, NULL, &err), &err);
	elog_store_close(s);
	T_OK(elog_store_open(dir, &o, &s, &err), &err);
	T_CHECK(elog_store_find(s, "big", 3) == NULL && elog_store_find(s, "new", 3) != NULL);
	T_CHECK(elog_store_find(s, "half", 4) == NULL);
	elog_store_close(s);
}

static void test_full_disk(void)
{
	char dir[4200];

	if (tmpfs_mount(dir, sizeof(dir), "size=4m") < 0)
		return;
	full_disk_body(dir);
	T_CHECK(umount2(dir, MNT_DETACH) == 0);
}

int main(void)
{
	T_RUN(test_config_keys);
	T_RUN(test_lock);
	T_RUN(test_topics_replay);
	T_RUN(test_leftovers);
	T_RUN(test_meta_damage_and_salvage);
	T_RUN(test_meta_torn_tail);
	T_RUN(test_partition_status);
	T_RUN(test_space_states);
	T_RUN(test_failure_logged_once);
	T_RUN(test_full_disk);
	return t_finish();
}
