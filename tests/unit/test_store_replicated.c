/*
 * Unit tests: the store's replicated metadata (store.h, "Replicated
 * metadata"): proposals go through the propose hook and change nothing
 * until applied; apply reports creates (with incarnation and placement),
 * deletes before they happen, and producer-id blocks; a reopen replays only
 * what was committed; bad placements are skipped alike.
 */
#include <sys/stat.h>

#include "t.h"
#include "store.h"

/* The "leader": append at once, as the driver does on the metadata leader. */
static int propose(void *ctx, uint8_t *batch, size_t len, int64_t *offset, struct elog_err *err)
{
	struct elog_store *store = ctx;

	return elog_partlog_append(store->meta, batch, len, 1, offset, err);
}

struct seen {
	int created, altered, deleting;
	struct elog_topic *last;
};

static void changed(void *ctx, enum elog_store_change what, struct elog_topic *t)
{
	struct seen *s = ctx;

	s->last = t;
	if (what == ELOG_STORE_CREATED)
		s->created++;
	else if (what == ELOG_STORE_ALTERED)
		s->altered++;
	else
		s->deleting++;
}

static struct elog_store *open_replicated(const char *dir, int64_t commit)
{
	struct elog_store_options o;
	struct elog_store *store;
	struct elog_err err;

	elog_store_options_default(&o);
	o.replicated = 1;
	if (elog_store_open(dir, &o, &store, &err) < 0 || elog_store_meta_load(store, commit, &err) < 0) {
		fprintf(stderr, "# %s\n", err.msg);
		return NULL;
	}
	store->propose = propose;
	store->propose_ctx = store;
	return store;
}

static void test_propose_then_apply(void)
{
	const char *dir = t_tmpdir();
	struct elog_store *store = open_replicated(dir, 0);
	struct elog_topic_config cfg;
	const int32_t replicas[6] = {1, 2, 3, 2, 3, 1};
	struct seen seen = {0};
	struct elog_err err;
	struct elog_topic *t;
	int64_t offset = -1, id = -1, offset2 = -1;

	T_ASSERT(store);
	elog_topic_config_default(&cfg);
	T_OK(elog_store_propose_create(store, "t", 1, 2, &cfg, 3, replicas, &offset, &err), &err);
	T_EQ_INT(offset, 0);
	T_CHECK(elog_store_find(store, "t", 1) == NULL); /* not before it is committed */
	T_OK(elog_store_meta_apply(store, offset + 1, changed, &seen, &err), &err);
	t = elog_store_find(store, "t", 1);
	T_ASSERT(t && seen.created == 1 && seen.last == t);
	T_EQ_INT(t->incarnation, 0);
	T_EQ_INT(t->replication_factor, 3);
	T_EQ_INT(t->partition_count, 2);
	T_ASSERT(t->partitions && t->partitions[1]);
	T_EQ_INT(elog_topic_replicas(t, 1)[0], 2);
	T_EQ_INT(elog_topic_replicas(t, 1)[2], 1);
	/* A second create of the name is refused while the first stands. */
	T_ASSERT(elog_store_propose_create(store, "t", 1, 1, &cfg, 3, replicas, &offset, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_BUSY);
	/* Producer ids: a block is proposed, then handed out from its start. */
	T_EQ_INT(elog_store_propose_producer_id(store, &id, &offset2, &err), 0);
	T_OK(elog_store_meta_apply(store, offset2 + 1, changed, &seen, &err), &err);
	T_EQ_INT(elog_store_propose_producer_id(store, &id, &offset2, &err), 1);
	T_EQ_INT(id, 0);
	T_EQ_INT(elog_store_propose_producer_id(store, &id, &offset2, &err), 1);
	T_EQ_INT(id, 1);
	/* Delete: told before, gone after. */
	T_OK(elog_store_propose_delete(store, t, &offset, &err), &err);
	T_ASSERT(elog_store_find(store, "t", 1) == t);
	T_OK(elog_store_meta_apply(store, offset + 1, changed, &seen, &err), &err);
	T_EQ_INT(seen.deleting, 1);
	T_CHECK(elog_store_find(store, "t", 1) == NULL);
	/* Created again: a new incarnation. */
	T_OK(elog_store_propose_create(store, "t", 1, 1, &cfg, 3, replicas, &offset, &err), &err);
	T_OK(elog_store_meta_apply(store, offset + 1, changed, &seen, &err), &err);
	t = elog_store_find(store, "t", 1);
	T_ASSERT(t);
	T_EQ_INT(t->incarnation, offset);
	elog_store_close(store);

	/* Reopened with a commit below the last create: that one is not there. */
	store = open_replicated(dir, offset);
	T_ASSERT(store);
	T_CHECK(elog_store_find(store, "t", 1) == NULL);
	T_OK(elog_store_meta_apply(store, offset + 1, changed, &seen, &err), &err);
	t = elog_store_find(store, "t", 1);
	T_ASSERT(t);
	T_EQ_INT(t->incarnation, offset);
	/* A new leader starts a block of its own: ids are never handed out twice. */
	T_CHECK(store->producer_id_next >= 2);
	elog_store_close(store);
}

/* A directory no applied record explains is kept aside, not removed. */
static void test_dir_in_the_way_kept(void)
{
	const char *dir = t_tmpdir();
	struct elog_store *store = open_replicated(dir, 0);
	struct elog_topic_config cfg;
	const int32_t replicas[1] = {1};
	struct seen seen = {0};
	struct elog_err err;
	char path[4096];
	int64_t offset;
	FILE *f;

	T_ASSERT(store);
	snprintf(path, sizeof(path), "%s/u", dir);
	T_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/u/precious", dir);
	f = fopen(path, "w");
	T_ASSERT(f);
	fclose(f);
	elog_topic_config_default(&cfg);
	T_OK(elog_store_propose_create(store, "u", 1, 1, &cfg, 1, replicas, &offset, &err), &err);
	T_OK(elog_store_meta_apply(store, offset + 1, changed, &seen, &err), &err);
	T_ASSERT(elog_store_find(store, "u", 1));
	T_CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/.kept/u.%" PRIu64 "/precious", dir, store->trash_seq);
	T_CHECK(access(path, F_OK) == 0);
	elog_store_close(store);
}

/* A create proposed twice before the first was applied: the second is
 * skipped when applied, and again when a restart replays the log. */
static void test_create_twice_committed(void)
{
	const char *dir = t_tmpdir();
	struct elog_store *store = open_replicated(dir, 0);
	struct elog_topic_config cfg;
	const int32_t replicas[3] = {1, 2, 3};
	struct seen seen = {0};
	struct elog_err err;
	int64_t a = -1, b = -1;

	T_ASSERT(store);
	elog_topic_config_default(&cfg);
	T_OK(elog_store_propose_create(store, "t", 1, 1, &cfg, 3, replicas, &a, &err), &err);
	T_OK(elog_store_propose_create(store, "t", 1, 1, &cfg, 3, replicas, &b, &err), &err);
	T_OK(elog_store_meta_apply(store, b + 1, changed, &seen, &err), &err);
	T_EQ_INT(seen.created, 1);
	T_EQ_INT(store->topic_count, 1);
	elog_store_close(store);
	store = open_replicated(dir, b + 1);
	T_ASSERT(store);
	T_EQ_INT(store->topic_count, 1);
	T_ASSERT(elog_store_find(store, "t", 1) != NULL);
	elog_store_close(store);
}

/*
 * Two alters proposed on the same view: one adds partitions (with its new
 * config), the other changes only the config and carries the old count.
 * Applied in that order, the second keeps the new count and takes its
 * config (it was "corrupt, skipped" and answered done); the grow's new
 * partitions open with the new config (the reopen of the old ones read past
 * the partition array when both changed at once).
 */
static void test_alters_proposed_together(void)
{
	const char *dir = t_tmpdir();
	struct elog_store *store = open_replicated(dir, 0);
	struct elog_topic_config cfg, grown, later;
	const int32_t replicas[12] = {1, 2, 3, 2, 3, 1, 3, 1, 2, 1, 2, 3};
	struct seen seen = {0};
	struct elog_topic *t;
	struct elog_err err;
	int64_t a = -1, b = -1, c = -1;

	T_ASSERT(store);
	elog_topic_config_default(&cfg);
	T_OK(elog_store_propose_create(store, "t", 1, 2, &cfg, 3, replicas, &a, &err), &err);
	T_OK(elog_store_meta_apply(store, a + 1, changed, &seen, &err), &err);
	t = elog_store_find(store, "t", 1);
	T_ASSERT(t && t->partition_count == 2);
	grown = cfg;
	T_OK(elog_topic_config_set(&grown, "retention.ms", "1h", &err), &err);
	later = cfg;
	T_OK(elog_topic_config_set(&later, "retention.ms", "2h", &err), &err);
	T_OK(elog_store_propose_alter(store, t, 4, replicas, &grown, &b, &err), &err);
	T_OK(elog_store_propose_alter(store, t, 2, NULL, &later, &c, &err), &err);
	T_OK(elog_store_meta_apply(store, c + 1, changed, &seen, &err), &err);
	t = elog_store_find(store, "t", 1);
	T_ASSERT(t);
	T_EQ_INT(t->partition_count, 4);
	T_EQ_INT(seen.altered, 2);
	T_EQ_INT(t->config.retention_ms, 2 * 3600 * 1000);
	for (uint32_t i = 0; i < 4; i++)
		T_ASSERT(t->partitions[i] != NULL);
	elog_store_close(store);
}

int main(void)
{
	T_RUN(test_propose_then_apply);
	T_RUN(test_dir_in_the_way_kept);
	T_RUN(test_create_twice_committed);
	T_RUN(test_alters_proposed_together);
	return t_finish();
}
