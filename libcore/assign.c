/* assign — the partition assignor of a consumer group; see assign.h. */
#include "assign.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
/* Bytes of a name or id quoted in a message (ids come from clients). */
#define QUOTE_MAX 64

static int out_of_memory(struct elog_err *err)
{
	return elog_err_set(err, ELOG_E_NOMEM, "assign: out of memory");
}

/* calloc of count elements (at least one, so that 0 is not a failure). */
static void *alloc_array(size_t count, size_t size)
{
	return calloc(count ? count : 1, size);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ topic names */

/*
 * The topics by name: an open-addressing table of topic index + 1 (0 is an
 * empty slot), FNV-1a hashed, at most half full. Building it checks the
 * topics: names present, short enough, each once; partitions within the limit.
 */
struct topic_index {
	const struct elog_assign_topic *topics;
	uint32_t count;
	uint32_t partitions;           /* of all topics together */
	uint32_t *slot;
	uint32_t mask;
};

/* FNV-1a of a name, and its length: reads ELOG_TOPIC_NAME_MAX + 1 bytes at
 * most, so *len > ELOG_TOPIC_NAME_MAX means "too long". */
static uint32_t name_hash(const char *name, size_t *len)
{
	uint32_t h = 2166136261u;
	size_t n = 0;

	while (n <= ELOG_TOPIC_NAME_MAX && name[n] != '\0')
		h = (h ^ (uint8_t)name[n++]) * 16777619u;
	*len = n;
	return h;
}

static uint32_t topic_index_lookup(const struct topic_index *ti, const char *name, uint32_t hash)
{
	uint32_t i = hash & ti->mask;

	/* Bounded: the table is at most half full, so an empty slot comes. */
	while (ti->slot[i] != 0) {
		const char *known = ti->topics[ti->slot[i] - 1].name;
		if (known == name || strcmp(known, name) == 0)
			return ti->slot[i] - 1;
		i = (i + 1) & ti->mask;
	}
	return NONE;
}

/* The topic so named, or NONE (a name too long to be a topic's too). */
static uint32_t topic_index_find(const struct topic_index *ti, const char *name)
{
	size_t len;
	uint32_t hash = name_hash(name, &len);

	return len > ELOG_TOPIC_NAME_MAX ? NONE : topic_index_lookup(ti, name, hash);
}

static int topic_check(const struct elog_assign_topic *topic, uint32_t t, struct elog_err *err)
{
	size_t len;

	if (!topic->name || topic->name[0] == '\0')
		return elog_err_set(err, ELOG_E_INVAL, "assign: topic %u has no name", t);
	len = strnlen(topic->name, ELOG_TOPIC_NAME_MAX + 1);
	if (len > ELOG_TOPIC_NAME_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: topic \"%.*s...\": name longer than %d bytes",
				    QUOTE_MAX, topic->name, ELOG_TOPIC_NAME_MAX);
	return 0;
}

/* Add topic t (its name checked); -1 if the name is there already. */
static int topic_index_insert(struct topic_index *ti, uint32_t t)
{
	size_t len;
	uint32_t hash = name_hash(ti->topics[t].name, &len), i;

	if (topic_index_lookup(ti, ti->topics[t].name, hash) != NONE)
		return -1;
	for (i = hash & ti->mask; ti->slot[i] != 0; i = (i + 1) & ti->mask)
		;
	ti->slot[i] = t + 1;
	ti->count = t + 1;
	return 0;
}

static int topic_index_build(struct topic_index *ti, const struct elog_assign_topic *topics,
			     uint32_t count, struct elog_err *err)
{
	uint64_t partitions = 0;
	uint32_t size = 16;

	memset(ti, 0, sizeof(*ti));
	if (count > ELOG_ASSIGN_TOPICS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: %u topics: more than %d", count,
				    ELOG_ASSIGN_TOPICS_MAX);
	if (count > 0 && !topics)
		return elog_err_set(err, ELOG_E_INVAL, "assign: %u topics but no array", count);
	while (size < 2 * count)
		size *= 2;
	ti->slot = alloc_array(size, sizeof(*ti->slot));
	if (!ti->slot)
		return out_of_memory(err);
	ti->topics = topics;
	ti->mask = size - 1;
	for (uint32_t t = 0; t < count; t++) {
		if (topic_check(&topics[t], t, err) < 0)
			return -1;
		partitions += topics[t].partitions;
		if (partitions > ELOG_ASSIGN_PARTITIONS_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "assign: more than %d partitions in all",
					    ELOG_ASSIGN_PARTITIONS_MAX);
		if (topic_index_insert(ti, t) < 0)
			return elog_err_set(err, ELOG_E_INVAL, "assign: topic \"%.*s\" listed twice",
					    QUOTE_MAX, topics[t].name);
	}
	ti->partitions = (uint32_t)partitions;
	return 0;
}

static void topic_index_release(struct topic_index *ti)
{
	free(ti->slot);
	memset(ti, 0, sizeof(*ti));
}

/* The topic a reference names, and the partition's number in the numbering
 * given by base (first partition of each topic); NONE when the topic is
 * unknown or the partition beyond its count. */
static uint32_t ref_resolve(const struct topic_index *ti, const uint32_t *base,
			    const struct elog_assign_ref *ref)
{
	uint32_t t = topic_index_find(ti, ref->topic);

	if (t == NONE || ref->partition >= ti->topics[t].partitions)
		return NONE;
	return base[t] + ref->partition;
}

/* ------------------------------------------------------------ the working set */

/*
 * Everything a computation works on. Topics are known by rank (their place
 * in name order) and partitions by a number in (topic name, partition)
 * order, so that nothing depends on the order of the arrays given.
 */
struct work {
	const struct elog_assign_group *g;
	uint32_t members, topics, partitions;
	struct topic_index index;
	uint32_t *topic_at_rank;       /* [topics] */
	uint32_t *rank_of_topic;       /* [topics] */
	uint32_t *base;                /* [topics + 1] by rank: number of its first partition */
	uint32_t *member_at_rank;      /* [members] in member order */
	uint32_t *rank_of_member;      /* [members] */
	uint32_t *sub_start;           /* [members + 1] into sub */
	uint32_t *sub;                 /* each member's topics (ranks, sorted, once each,
					  only topics with partitions) */
	uint32_t *link;                /* parallel to sub: the member's place in tsub */
	uint32_t *tsub_start;          /* [topics + 1] by rank, into tsub */
	uint32_t *tsub;                /* each topic's subscribers, in member order */
	uint32_t *owner;               /* [partitions]: member index or NONE */
	uint32_t kept, moved, dropped;
	int balanced;
	uint64_t balance_steps_max;
};

static void work_release(struct work *w)
{
	topic_index_release(&w->index);
	free(w->topic_at_rank);
	free(w->rank_of_topic);
	free(w->base);
	free(w->member_at_rank);
	free(w->rank_of_member);
	free(w->sub_start);
	free(w->sub);
	free(w->link);
	free(w->tsub_start);
	free(w->tsub);
	free(w->owner);
	memset(w, 0, sizeof(*w));
}

struct name_key {
	const char *name;
	uint32_t index;
};

static int cmp_name_key(const void *a, const void *b)
{
	return strcmp(((const struct name_key *)a)->name, ((const struct name_key *)b)->name);
}

/* Ranks of the topics: their order by name. */
static int rank_topics(struct work *w, struct elog_err *err)
{
	struct name_key *keys = alloc_array(w->topics, sizeof(*keys));
	const struct elog_assign_topic *topics = w->g->topics;

	w->topic_at_rank = alloc_array(w->topics, sizeof(uint32_t));
	w->rank_of_topic = alloc_array(w->topics, sizeof(uint32_t));
	w->base = alloc_array(w->topics + 1, sizeof(uint32_t));
	if (!keys || !w->topic_at_rank || !w->rank_of_topic || !w->base) {
		free(keys);
		return out_of_memory(err);
	}
	for (uint32_t t = 0; t < w->topics; t++)
		keys[t] = (struct name_key){ topics[t].name, t };
	qsort(keys, w->topics, sizeof(*keys), cmp_name_key);
	for (uint32_t r = 0; r < w->topics; r++) {
		uint32_t t = keys[r].index;
		w->topic_at_rank[r] = t;
		w->rank_of_topic[t] = r;
		w->base[r + 1] = w->base[r] + topics[t].partitions;
	}
	assert(w->base[w->topics] == w->partitions);
	free(keys);
	return 0;
}

static int id_check(const char *id, uint32_t i, const char *what, struct elog_err *err)
{
	if (!id || id[0] == '\0')
		return elog_err_set(err, ELOG_E_INVAL, "assign: member %u has no %s", i, what);
	if (strnlen(id, ELOG_ASSIGN_ID_MAX + 1) > ELOG_ASSIGN_ID_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: member %u: %s longer than %d bytes",
				    i, what, ELOG_ASSIGN_ID_MAX);
	return 0;
}

/* One member's fields, and its share of the totals (*subs, *targets). */
static int member_check(const struct elog_assign_member *m, uint32_t i, uint64_t *subs,
			uint64_t *targets, struct elog_err *err)
{
	if (id_check(m->id, i, "id", err) < 0 ||
	    (m->instance_id && id_check(m->instance_id, i, "instance id", err) < 0))
		return -1;
	if (m->topic_count > ELOG_ASSIGN_TOPICS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: member \"%.*s\": %u topics subscribed: more than %d",
				    QUOTE_MAX, m->id, m->topic_count, ELOG_ASSIGN_TOPICS_MAX);
	if ((m->topic_count > 0 && !m->topics) || (m->target_count > 0 && !m->target))
		return elog_err_set(err, ELOG_E_INVAL, "assign: member \"%.*s\": a count but no array",
				    QUOTE_MAX, m->id);
	for (uint32_t k = 0; k < m->target_count; k++)
		if (!m->target[k].topic)
			return elog_err_set(err, ELOG_E_INVAL, "assign: member \"%.*s\": target entry %u has no topic",
					    QUOTE_MAX, m->id, k);
	*subs += m->topic_count;
	*targets += m->target_count;
	if (*subs > ELOG_ASSIGN_SUBSCRIPTIONS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: more than %d subscriptions in all",
				    ELOG_ASSIGN_SUBSCRIPTIONS_MAX);
	if (*targets > ELOG_ASSIGN_PARTITIONS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: more than %d target entries in all",
				    ELOG_ASSIGN_PARTITIONS_MAX);
	return 0;
}

struct member_key {
	const char *instance_id;       /* NULL: dynamic */
	const char *id;
	uint32_t index;
};

static int cmp_member_id(const void *a, const void *b)
{
	return strcmp(((const struct member_key *)a)->id, ((const struct member_key *)b)->id);
}

/* Member order: static members first, by instance id; then by member id. */
static int cmp_member_order(const void *a, const void *b)
{
	const struct member_key *x = a, *y = b;

	if (x->instance_id && y->instance_id)
		return strcmp(x->instance_id, y->instance_id);
	if (x->instance_id || y->instance_id)
		return x->instance_id ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Ranks of the members (member order), refusing an id or instance id twice. */
static int rank_members(struct work *w, struct elog_err *err)
{
	struct member_key *keys = alloc_array(w->members, sizeof(*keys));
	int rc = -1;

	w->member_at_rank = alloc_array(w->members, sizeof(uint32_t));
	w->rank_of_member = alloc_array(w->members, sizeof(uint32_t));
	if (!keys || !w->member_at_rank || !w->rank_of_member) {
		out_of_memory(err);
		goto out;
	}
	for (uint32_t i = 0; i < w->members; i++)
		keys[i] = (struct member_key){ w->g->members[i].instance_id, w->g->members[i].id, i };
	qsort(keys, w->members, sizeof(*keys), cmp_member_id);
	for (uint32_t i = 1; i < w->members; i++)
		if (strcmp(keys[i - 1].id, keys[i].id) == 0) {
			elog_err_set(err, ELOG_E_INVAL, "assign: member id \"%.*s\" listed twice",
				     QUOTE_MAX, keys[i].id);
			goto out;
		}
	qsort(keys, w->members, sizeof(*keys), cmp_member_order);
	for (uint32_t i = 0; i < w->members; i++) {
		if (i > 0 && keys[i].instance_id && cmp_member_order(&keys[i - 1], &keys[i]) == 0) {
			elog_err_set(err, ELOG_E_INVAL, "assign: instance id \"%.*s\" listed twice",
				     QUOTE_MAX, keys[i].instance_id);
			goto out;
		}
		w->member_at_rank[i] = keys[i].index;
		w->rank_of_member[keys[i].index] = i;
	}
	rc = 0;
out:
	free(keys);
	return rc;
}

/* The topic rank a subscribed name stands for (NONE: no such topic, or no
 * partitions), refusing a missing, empty or too long name. */
static int subscription_resolve(const struct work *w, uint32_t i, uint32_t k, uint32_t *rank,
				struct elog_err *err)
{
	const struct elog_assign_member *m = &w->g->members[i];
	const char *name = m->topics[k];
	size_t len;
	uint32_t hash, t;

	if (!name || name[0] == '\0')
		return elog_err_set(err, ELOG_E_INVAL, "assign: member \"%.*s\": subscribed topic %u has no name",
				    QUOTE_MAX, m->id, k);
	hash = name_hash(name, &len);
	if (len > ELOG_TOPIC_NAME_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: member \"%.*s\": subscribed topic name longer than %d bytes",
				    QUOTE_MAX, m->id, ELOG_TOPIC_NAME_MAX);
	t = topic_index_lookup(&w->index, name, hash);
	*rank = t == NONE || w->g->topics[t].partitions == 0 ? NONE : w->rank_of_topic[t];
	return 0;
}

/*
 * Each member's subscribed topics as ranks (unknown names and topics
 * without partitions left out, each once) and each topic's subscribers, by
 * two bucket passes, no sorting: members in member order into the topics'
 * lists, then topics in rank order into the members' lists, which are thus
 * sorted. link ties the two together.
 */
static int resolve_subscriptions(struct work *w, uint64_t names, struct elog_err *err)
{
	uint32_t *mark = alloc_array(w->topics, sizeof(uint32_t));   /* member + 1 that named it */
	uint32_t *cursor = alloc_array((size_t)w->topics + w->members, sizeof(uint32_t));
	uint32_t at = 0;
	int rc = -1;

	w->sub_start = alloc_array(w->members + 1, sizeof(uint32_t));
	w->sub = alloc_array(names, sizeof(uint32_t));
	w->link = alloc_array(names, sizeof(uint32_t));     /* the ranks, until the end */
	w->tsub_start = alloc_array(w->topics + 1, sizeof(uint32_t));
	w->tsub = alloc_array(names, sizeof(uint32_t));
	if (!mark || !cursor || !w->sub_start || !w->sub || !w->link || !w->tsub_start || !w->tsub) {
		out_of_memory(err);
		goto out;
	}
	for (uint32_t i = 0; i < w->members; i++) {
		w->sub_start[i] = at;
		for (uint32_t k = 0, r = NONE; k < w->g->members[i].topic_count; k++) {
			if (subscription_resolve(w, i, k, &r, err) < 0)
				goto out;
			if (r == NONE || mark[r] == i + 1)
				continue;
			mark[r] = i + 1;
			w->link[at++] = r;
			w->tsub_start[r + 1]++;
		}
	}
	w->sub_start[w->members] = at;
	for (uint32_t r = 0; r < w->topics; r++)
		w->tsub_start[r + 1] += w->tsub_start[r];
	memcpy(cursor, w->tsub_start, w->topics * sizeof(uint32_t));
	for (uint32_t mr = 0; mr < w->members; mr++) {
		uint32_t i = w->member_at_rank[mr];
		for (uint32_t k = w->sub_start[i]; k < w->sub_start[i + 1]; k++)
			w->tsub[cursor[w->link[k]]++] = i;
	}
	memcpy(cursor, w->sub_start, w->members * sizeof(uint32_t));
	for (uint32_t r = 0; r < w->topics; r++)
		for (uint32_t j = w->tsub_start[r]; j < w->tsub_start[r + 1]; j++) {
			uint32_t k = cursor[w->tsub[j]]++;
			w->sub[k] = r;
			w->link[k] = j;
		}
	rc = 0;
out:
	free(mark);
	free(cursor);
	return rc;
}

static int work_build(struct work *w, const struct elog_assign_group *g, struct elog_err *err)
{
	uint64_t names = 0, targets = 0;

	memset(w, 0, sizeof(*w));
	w->g = g;
	if (g->member_count > ELOG_ASSIGN_MEMBERS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: %u members: more than %d",
				    g->member_count, ELOG_ASSIGN_MEMBERS_MAX);
	if (g->member_count > 0 && !g->members)
		return elog_err_set(err, ELOG_E_INVAL, "assign: %u members but no array",
				    g->member_count);
	if (topic_index_build(&w->index, g->topics, g->topic_count, err) < 0)
		return -1;
	w->members = g->member_count;
	w->topics = g->topic_count;
	w->partitions = w->index.partitions;
	w->balance_steps_max = g->balance_steps_max ? g->balance_steps_max : ELOG_ASSIGN_BALANCE_STEPS;
	for (uint32_t i = 0; i < w->members; i++)
		if (member_check(&g->members[i], i, &names, &targets, err) < 0)
			return -1;
	if (rank_topics(w, err) < 0 || rank_members(w, err) < 0 ||
	    resolve_subscriptions(w, names, err) < 0)
		return -1;
	w->owner = alloc_array(w->partitions, sizeof(uint32_t));
	if (!w->owner)
		return out_of_memory(err);
	for (uint32_t gid = 0; gid < w->partitions; gid++)
		w->owner[gid] = NONE;
	return 0;
}

/* The place of member m in the subscribers of topic rank r, or NONE. */
static uint32_t tsub_find(const struct work *w, uint32_t r, uint32_t m)
{
	uint32_t lo = w->tsub_start[r], hi = w->tsub_start[r + 1], want = w->rank_of_member[m];

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (w->rank_of_member[w->tsub[mid]] < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->tsub_start[r + 1] && w->tsub[lo] == m ? lo : NONE;
}

static uint32_t topic_size(const struct work *w, uint32_t r)
{
	return w->g->topics[w->topic_at_rank[r]].partitions;
}

/* ------------------------------------------------------- range, round-robin */

static void assign_range(struct work *w)
{
	for (uint32_t r = 0; r < w->topics; r++) {
		uint32_t off = w->tsub_start[r], subscribers = w->tsub_start[r + 1] - off;
		uint32_t n = topic_size(w, r), p = 0;

		for (uint32_t i = 0; i < subscribers; i++) {
			uint32_t take = n / subscribers + (i < n % subscribers);
			for (uint32_t k = 0; k < take; k++)
				w->owner[w->base[r] + p++] = w->tsub[off + i];
		}
		assert(subscribers == 0 || p == n);
	}
}

static void assign_roundrobin(struct work *w)
{
	uint32_t next = 0;   /* member rank whose turn it is */

	for (uint32_t r = 0; r < w->topics; r++) {
		uint32_t start = w->tsub_start[r], end = w->tsub_start[r + 1];

		if (start == end)
			continue;
		for (uint32_t p = 0; p < topic_size(w, r); p++) {
			/* The first subscriber at or after the turn, wrapping around. */
			uint32_t lo = start, hi = end, m;
			while (lo < hi) {
				uint32_t mid = lo + (hi - lo) / 2;
				if (w->rank_of_member[w->tsub[mid]] < next)
					lo = mid + 1;
				else
					hi = mid;
			}
			m = w->tsub[lo < end ? lo : start];
			w->owner[w->base[r] + p] = m;
			next = w->rank_of_member[m] + 1;
		}
	}
}

/* ------------------------------------------------------------------ sticky */

/* Is member m subscribed to topic rank r? */
static int subscribed(const struct work *w, uint32_t m, uint32_t r)
{
	const uint32_t *lo = w->sub + w->sub_start[m];

	return bsearch(&r, lo, w->sub_start[m + 1] - w->sub_start[m], sizeof(uint32_t),
		       cmp_u32) != NULL;
}

/* owner[] from the current targets, members in member order so that a
 * partition claimed twice goes to the first; entries that cannot stand
 * are counted in dropped. */
static void claim_targets(struct work *w)
{
	for (uint32_t mr = 0; mr < w->members; mr++) {
		uint32_t m = w->member_at_rank[mr];
		const struct elog_assign_member *member = &w->g->members[m];

		for (uint32_t k = 0; k < member->target_count; k++) {
			const struct elog_assign_ref *ref = &member->target[k];
			uint32_t t, gid;

			if ((t = topic_index_find(&w->index, ref->topic)) == NONE ||
			    ref->partition >= w->g->topics[t].partitions ||
			    !subscribed(w, m, w->rank_of_topic[t])) {
				w->dropped++;
				continue;
			}
			gid = w->base[w->rank_of_topic[t]] + ref->partition;
			if (w->owner[gid] == NONE)
				w->owner[gid] = m;
			else if (w->owner[gid] != m)
				w->dropped++;
		}
	}
}

struct holding {
	uint32_t held;
	uint32_t rank;
	uint32_t member;
};

/* Most held first, then member order. */
static int cmp_holding(const void *a, const void *b)
{
	const struct holding *x = a, *y = b;

	if (x->held != y->held)
		return x->held > y->held ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Partitions owner[] leaves free (topics in sub[from..to), in order) dealt
 * round-robin, in member order, to the members short of their quota. */
static void deal_uniform(struct work *w, uint32_t from, uint32_t to, const uint32_t *quota,
			 uint32_t *kept, uint32_t *short_members)
{
	uint32_t count = 0, turn = 0;

	for (uint32_t mr = 0; mr < w->members; mr++) {
		uint32_t m = w->member_at_rank[mr];
		if (kept[m] < quota[m])
			short_members[count++] = m;
	}
	for (uint32_t k = from; k < to; k++) {
		uint32_t r = w->sub[k];
		for (uint32_t gid = w->base[r]; gid < w->base[r + 1]; gid++) {
			uint32_t m;
			if (w->owner[gid] != NONE)
				continue;
			if (turn >= count) {
				/* A round is over: drop the members it filled. */
				uint32_t still = 0;
				for (uint32_t i = 0; i < count; i++)
					if (kept[short_members[i]] < quota[short_members[i]])
						short_members[still++] = short_members[i];
				count = still;
				turn = 0;
			}
			assert(turn < count);
			m = short_members[turn++];
			w->owner[gid] = m;
			kept[m]++;
		}
	}
}

/*
 * Every member that subscribes to anything subscribes to the same topics
 * (those of member `model`): each gets q = P / n or q + 1, the r = P % n
 * members holding the most (then in member order) get q + 1, and each keeps
 * as many of its partitions as its quota allows, lowest first. Minimal
 * movement for that balance.
 */
static int sticky_uniform(struct work *w, uint32_t model, struct elog_err *err)
{
	uint32_t from = w->sub_start[model], to = w->sub_start[model + 1];
	uint32_t *quota = alloc_array(w->members, sizeof(uint32_t));
	uint32_t *kept = alloc_array(w->members, sizeof(uint32_t));
	uint32_t *short_members = alloc_array(w->members, sizeof(uint32_t));
	struct holding *order = alloc_array(w->members, sizeof(*order));
	uint32_t n = 0, total = 0;
	int rc = -1;

	if (!quota || !kept || !short_members || !order) {
		out_of_memory(err);
		goto out;
	}
	for (uint32_t k = from; k < to; k++)
		total += topic_size(w, w->sub[k]);
	for (uint32_t gid = 0; gid < w->partitions; gid++)
		if (w->owner[gid] != NONE)
			kept[w->owner[gid]]++;        /* held, for now */
	for (uint32_t m = 0; m < w->members; m++)
		if (w->sub_start[m + 1] > w->sub_start[m])
			order[n++] = (struct holding){ kept[m], w->rank_of_member[m], m };
	qsort(order, n, sizeof(*order), cmp_holding);
	for (uint32_t i = 0; i < n; i++)
		quota[order[i].member] = total / n + (i < total % n);
	memset(kept, 0, w->members * sizeof(uint32_t));
	for (uint32_t k = from; k < to; k++) {
		for (uint32_t gid = w->base[w->sub[k]]; gid < w->base[w->sub[k] + 1]; gid++) {
			uint32_t m = w->owner[gid];
			if (m == NONE)
				continue;
			if (kept[m] < quota[m]) {
				kept[m]++;
				w->kept++;
			} else {
				w->owner[gid] = NONE;
				w->moved++;
			}
		}
	}
	deal_uniform(w, from, to, quota, kept, short_members);
	w->balanced = 1;
	rc = 0;
out:
	free(quota);
	free(kept);
	free(short_members);
	free(order);
	return rc;
}

/*
 * Mixed subscriptions. The balancing works on counts: load[m] partitions
 * per member, count[j] per (topic, subscriber) (parallel to tsub), spare[r]
 * partitions of a topic nobody holds yet; partitions are chosen at the end
 * (settle). Two passes:
 *
 *   local   topic by topic, spare partitions go to the least loaded
 *           subscribers, then the most loaded holder gives one to the least
 *           loaded subscriber while they differ by 2 or more (two heaps
 *           over the topic's subscribers). Sweeps until one moves nothing:
 *           guarantee 2.
 *   chains  level by level from the highest load down: a breadth-first
 *           search from the members at that load, through topics they hold
 *           to those topics' subscribers, for the nearest member with 2 less;
 *           each hop of the path found passes one partition on. Guarantee 4
 *           (assign.h); if the step budget runs out, local runs again.
 *
 * Both only ever move a partition from a member holding more to one holding
 * at least 2 less (end to end), so the sum of squared loads falls at each
 * move: they end.
 */
struct heap {
	uint32_t *item;     /* places in the topic's subscriber list, heap-ordered */
	uint32_t *at;       /* place -> index in item; NONE: not in the heap */
	uint32_t count;
	int givers;         /* 1: most loaded on top (ties: later member); 0: least
			       loaded on top (ties: earlier member) */
};

struct balance {
	struct work *w;
	uint32_t *load;     /* [members] */
	uint32_t *count;    /* parallel to tsub */
	uint32_t *spare;    /* [topics] by rank */
	uint32_t off;       /* the topic being balanced: its first place in tsub */
	struct heap give, take;
	/* chains */
	uint32_t *seen, *from_member, *from_topic, *queue;  /* [members] */
	uint32_t *expanded;                                  /* [topics] */
	uint32_t stamp;
	uint64_t steps;
};

static int heap_above(const struct balance *b, const struct heap *h, uint32_t x, uint32_t y)
{
	uint32_t mx = b->w->tsub[b->off + x], my = b->w->tsub[b->off + y];
	uint32_t lx = b->load[mx], ly = b->load[my];
	uint32_t rx = b->w->rank_of_member[mx], ry = b->w->rank_of_member[my];

	if (lx != ly)
		return h->givers ? lx > ly : lx < ly;
	return h->givers ? rx > ry : rx < ry;
}

static void heap_swap(struct heap *h, uint32_t i, uint32_t j)
{
	uint32_t x = h->item[i];

	h->item[i] = h->item[j];
	h->item[j] = x;
	h->at[h->item[i]] = i;
	h->at[h->item[j]] = j;
}

static void heap_up(const struct balance *b, struct heap *h, uint32_t i)
{
	while (i > 0 && heap_above(b, h, h->item[i], h->item[(i - 1) / 2])) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(const struct balance *b, struct heap *h, uint32_t i)
{
	for (;;) {
		uint32_t top = i, left = 2 * i + 1;
		if (left < h->count && heap_above(b, h, h->item[left], h->item[top]))
			top = left;
		if (left + 1 < h->count && heap_above(b, h, h->item[left + 1], h->item[top]))
			top = left + 1;
		if (top == i)
			return;
		heap_swap(h, i, top);
		i = top;
	}
}

static void heap_push(const struct balance *b, struct heap *h, uint32_t x)
{
	assert(h->at[x] == NONE);
	h->item[h->count] = x;
	h->at[x] = h->count++;
	heap_up(b, h, h->count - 1);
}

/* x's key changed: move it to its place. */
static void heap_fix(const struct balance *b, struct heap *h, uint32_t x)
{
	if (h->at[x] == NONE)
		return;
	heap_up(b, h, h->at[x]);
	heap_down(b, h, h->at[x]);
}

static void heap_remove(const struct balance *b, struct heap *h, uint32_t x)
{
	uint32_t i = h->at[x], last = h->count - 1;

	assert(i != NONE);
	if (i != last)
		heap_swap(h, i, last);
	h->count--;
	h->at[x] = NONE;
	if (i < h->count)
		heap_fix(b, h, h->item[i]);
}

/* Place x of the current topic gains (+1) or loses (-1) one partition. */
static void heap_shift(struct balance *b, uint32_t x, int gain)
{
	uint32_t m = b->w->tsub[b->off + x];

	if (gain > 0) {
		b->count[b->off + x]++;
		b->load[m]++;
		if (b->count[b->off + x] == 1)
			heap_push(b, &b->give, x);
		else
			heap_fix(b, &b->give, x);
	} else {
		assert(b->count[b->off + x] > 0 && b->load[m] > 0);
		b->count[b->off + x]--;
		b->load[m]--;
		if (b->count[b->off + x] == 0)
			heap_remove(b, &b->give, x);
		else
			heap_fix(b, &b->give, x);
	}
	heap_fix(b, &b->take, x);
}

/* Does topic rank r break guarantee 2, or have spare partitions? */
static int topic_unbalanced(const struct balance *b, uint32_t r)
{
	uint32_t start = b->w->tsub_start[r], end = b->w->tsub_start[r + 1];
	uint32_t most = 0, least = UINT32_MAX;

	if (start == end)
		return 0;
	if (b->spare[r] > 0)
		return 1;
	for (uint32_t j = start; j < end; j++) {
		uint32_t load = b->load[b->w->tsub[j]];
		if (b->count[j] > 0 && load > most)
			most = load;
		if (load < least)
			least = load;
	}
	return most >= least + 2;
}

/* Spare partitions of topic rank r out, then even it out: see above.
 * Returns the partitions placed or moved. */
static uint32_t balance_topic(struct balance *b, uint32_t r)
{
	uint32_t subscribers = b->w->tsub_start[r + 1] - b->w->tsub_start[r], moves = 0;

	b->off = b->w->tsub_start[r];
	b->give.count = b->take.count = 0;
	for (uint32_t x = 0; x < subscribers; x++)
		b->give.at[x] = b->take.at[x] = NONE;
	for (uint32_t x = 0; x < subscribers; x++) {
		heap_push(b, &b->take, x);
		if (b->count[b->off + x] > 0)
			heap_push(b, &b->give, x);
	}
	for (; b->spare[r] > 0; b->spare[r]--, moves++)
		heap_shift(b, b->take.item[0], 1);
	/* Bounded: each move lowers the sum of squared loads. */
	while (b->give.count > 0) {
		uint32_t giver = b->give.item[0], taker = b->take.item[0];
		if (b->load[b->w->tsub[b->off + giver]] < b->load[b->w->tsub[b->off + taker]] + 2)
			break;
		heap_shift(b, giver, -1);
		heap_shift(b, taker, 1);
		moves++;
	}
	return moves;
}

static void balance_local(struct balance *b)
{
	int moved = 1;

	/* Bounded: a sweep that moves anything lowers the sum of squared loads
	 * (or, the first, hands out the spare partitions). */
	while (moved) {
		moved = 0;
		for (uint32_t r = 0; r < b->w->topics; r++)
			if (topic_unbalanced(b, r) && balance_topic(b, r) > 0)
				moved = 1;
	}
}

/* The nearest member holding at most level - 2, reachable from a member
 * holding level (see above); NONE if there is none or the budget ran out. */
static uint32_t chain_search(struct balance *b, uint32_t level)
{
	const struct work *w = b->w;
	uint32_t head = 0, tail = 0;

	b->stamp++;
	for (uint32_t mr = 0; mr < w->members; mr++) {
		uint32_t m = w->member_at_rank[mr];
		if (b->load[m] == level) {
			b->seen[m] = b->stamp;
			b->from_member[m] = NONE;
			b->queue[tail++] = m;
		}
	}
	b->steps += w->members;
	while (head < tail && b->steps <= w->balance_steps_max) {
		uint32_t x = b->queue[head++];
		for (uint32_t k = w->sub_start[x]; k < w->sub_start[x + 1]; k++) {
			uint32_t r = w->sub[k];
			b->steps++;
			if (b->count[w->link[k]] == 0 || b->expanded[r] == b->stamp)
				continue;
			b->expanded[r] = b->stamp;
			for (uint32_t j = w->tsub_start[r]; j < w->tsub_start[r + 1]; j++) {
				uint32_t y = w->tsub[j];
				b->steps++;
				if (b->seen[y] == b->stamp)
					continue;
				b->seen[y] = b->stamp;
				b->from_member[y] = x;
				b->from_topic[y] = r;
				if (b->load[y] + 2 <= level)
					return y;
				b->queue[tail++] = y;
			}
		}
	}
	return NONE;
}

/* Pass one partition along each hop of the path found, ending at y. */
static void chain_follow(struct balance *b, uint32_t y)
{
	uint32_t hops = 0;

	b->load[y]++;
	while (b->from_member[y] != NONE) {
		uint32_t x = b->from_member[y], r = b->from_topic[y];
		uint32_t jx = tsub_find(b->w, r, x), jy = tsub_find(b->w, r, y);
		assert(jx != NONE && jy != NONE && b->count[jx] > 0);
		b->count[jx]--;
		b->count[jy]++;
		y = x;
		assert(++hops <= b->w->members);
	}
	assert(b->load[y] > 0);
	b->load[y]--;
}

/* Guarantee 4; 0 if the budget ran out first. */
static int balance_chains(struct balance *b)
{
	const struct work *w = b->w;
	uint32_t level = UINT32_MAX;

	/* Bounded: level falls at each turn. */
	for (;;) {
		uint32_t next = 0, least = UINT32_MAX, y;
		int any = 0;
		for (uint32_t m = 0; m < w->members; m++) {
			if (w->sub_start[m + 1] == w->sub_start[m])
				continue;
			if (b->load[m] < level && b->load[m] >= next) {
				next = b->load[m];
				any = 1;
			}
			if (b->load[m] < least)
				least = b->load[m];
		}
		if (!any || next < least + 2)
			return 1;
		level = next;
		while ((y = chain_search(b, level)) != NONE)
			chain_follow(b, y);
		if (b->steps > w->balance_steps_max)
			return 0;
	}
}

/* Choose the partitions: each member keeps the lowest of those it holds, up
 * to its count per topic; the others go, lowest first, to the subscribers
 * short of their count, in member order. */
static void settle(struct work *w, const uint32_t *count, uint32_t *place, uint32_t *kept)
{
	for (uint32_t r = 0; r < w->topics; r++) {
		uint32_t off = w->tsub_start[r], subscribers = w->tsub_start[r + 1] - off, x = 0;

		if (subscribers == 0)
			continue;
		for (uint32_t i = 0; i < subscribers; i++) {
			place[w->tsub[off + i]] = i;
			kept[i] = 0;
		}
		for (uint32_t gid = w->base[r]; gid < w->base[r + 1]; gid++) {
			uint32_t m = w->owner[gid];
			if (m == NONE)
				continue;
			if (kept[place[m]] < count[off + place[m]]) {
				kept[place[m]]++;
				w->kept++;
			} else {
				w->owner[gid] = NONE;
				w->moved++;
			}
		}
		for (uint32_t gid = w->base[r]; gid < w->base[r + 1]; gid++) {
			if (w->owner[gid] != NONE)
				continue;
			while (kept[x] >= count[off + x])
				x++;
			assert(x < subscribers);
			w->owner[gid] = w->tsub[off + x];
			kept[x]++;
		}
	}
}

static int sticky_mixed(struct work *w, struct elog_err *err)
{
	struct balance b = { .w = w };
	uint32_t *place = NULL, *kept = NULL;
	int rc = -1;

	b.load = alloc_array(w->members, sizeof(uint32_t));
	b.count = alloc_array(w->sub_start[w->members], sizeof(uint32_t));
	b.spare = alloc_array(w->topics, sizeof(uint32_t));
	b.give.item = alloc_array(w->members, sizeof(uint32_t));
	b.give.at = alloc_array(w->members, sizeof(uint32_t));
	b.take.item = alloc_array(w->members, sizeof(uint32_t));
	b.take.at = alloc_array(w->members, sizeof(uint32_t));
	b.seen = alloc_array(w->members, sizeof(uint32_t));
	b.from_member = alloc_array(w->members, sizeof(uint32_t));
	b.from_topic = alloc_array(w->members, sizeof(uint32_t));
	b.queue = alloc_array(w->members, sizeof(uint32_t));
	b.expanded = alloc_array(w->topics, sizeof(uint32_t));
	place = alloc_array(w->members, sizeof(uint32_t));
	kept = alloc_array(w->members, sizeof(uint32_t));
	if (!b.load || !b.count || !b.spare || !b.give.item || !b.give.at || !b.take.item ||
	    !b.take.at || !b.seen || !b.from_member || !b.from_topic || !b.queue ||
	    !b.expanded || !place || !kept) {
		out_of_memory(err);
		goto out;
	}
	b.give.givers = 1;
	for (uint32_t r = 0; r < w->topics; r++) {
		b.spare[r] = topic_size(w, r);
		for (uint32_t gid = w->base[r]; gid < w->base[r + 1]; gid++) {
			uint32_t m = w->owner[gid];
			if (m == NONE)
				continue;
			b.count[tsub_find(w, r, m)]++;
			b.load[m]++;
			b.spare[r]--;
		}
	}
	balance_local(&b);
	w->balanced = balance_chains(&b);
	if (!w->balanced)
		balance_local(&b);
	settle(w, b.count, place, kept);
	rc = 0;
out:
	free(b.load);
	free(b.count);
	free(b.spare);
	free(b.give.item);
	free(b.give.at);
	free(b.take.item);
	free(b.take.at);
	free(b.seen);
	free(b.from_member);
	free(b.from_topic);
	free(b.queue);
	free(b.expanded);
	free(place);
	free(kept);
	return rc;
}

/* Do all members that subscribe to anything subscribe to the same topics?
 * *model gets one of them (NONE if no member subscribes to anything). */
static int uniform(const struct work *w, uint32_t *model)
{
	*model = NONE;
	for (uint32_t m = 0; m < w->members; m++) {
		uint32_t len = w->sub_start[m + 1] - w->sub_start[m];
		if (len == 0)
			continue;
		if (*model == NONE) {
			*model = m;
			continue;
		}
		if (len != w->sub_start[*model + 1] - w->sub_start[*model] ||
		    memcmp(w->sub + w->sub_start[m], w->sub + w->sub_start[*model],
			   len * sizeof(uint32_t)) != 0)
			return 0;
	}
	return 1;
}

static int assign_sticky(struct work *w, struct elog_err *err)
{
	uint32_t model;

	claim_targets(w);
	if (!uniform(w, &model))
		return sticky_mixed(w, err);
	w->balanced = 1;
	return model == NONE ? 0 : sticky_uniform(w, model, err);
}

/* ------------------------------------------------------------------ result */

void elog_assign_result_init(struct elog_assign_result *r)
{
	memset(r, 0, sizeof(*r));
}

void elog_assign_result_release(struct elog_assign_result *r)
{
	free(r->members);
	free(r->pool_);
	elog_assign_result_init(r);
}

/* owner[] into per-member lists sorted by (topic index, partition). */
static int build_result(const struct work *w, struct elog_assign_result *out,
			struct elog_err *err)
{
	uint32_t assigned = 0;

	out->members = alloc_array(w->members, sizeof(*out->members));
	if (!out->members)
		return out_of_memory(err);
	out->member_count = w->members;
	for (uint32_t gid = 0; gid < w->partitions; gid++)
		if (w->owner[gid] != NONE) {
			out->members[w->owner[gid]].count++;
			assigned++;
		}
	out->pool_ = alloc_array(assigned, sizeof(*out->pool_));
	if (!out->pool_)
		return out_of_memory(err);
	for (uint32_t m = 0, at = 0; m < w->members; m++) {
		out->members[m].tp = out->pool_ + at;
		at += out->members[m].count;
		out->members[m].count = 0;
	}
	for (uint32_t t = 0; t < w->topics; t++) {
		uint32_t base = w->base[w->rank_of_topic[t]];
		for (uint32_t p = 0; p < w->g->topics[t].partitions; p++) {
			uint32_t m = w->owner[base + p];
			struct elog_assign_set *set;
			if (m == NONE)
				continue;
			set = &out->members[m];
			out->pool_[set->tp - out->pool_ + set->count++] = (struct elog_assign_tp){ t, p };
		}
	}
	out->assigned = assigned;
	out->kept = w->kept;
	out->moved = w->moved;
	out->dropped = w->dropped;
	out->balanced = w->balanced;
	return 0;
}

int elog_assign_compute(const struct elog_assign_group *g, enum elog_assign_strategy s,
			struct elog_assign_result *out, struct elog_err *err)
{
	struct work w;
	int rc = -1;

	elog_assign_result_init(out);
	memset(&w, 0, sizeof(w));
	if (!g)
		return elog_err_set(err, ELOG_E_INVAL, "assign: no group");
	if ((unsigned)s >= ELOG_ASSIGN__COUNT)
		return elog_err_set(err, ELOG_E_INVAL, "assign: unknown strategy %d", (int)s);
	if (work_build(&w, g, err) < 0)
		goto out;
	if (s == ELOG_ASSIGN_RANGE)
		assign_range(&w);
	else if (s == ELOG_ASSIGN_ROUNDROBIN)
		assign_roundrobin(&w);
	else if (assign_sticky(&w, err) < 0)
		goto out;
	if (build_result(&w, out, err) < 0)
		goto out;
	rc = 0;
out:
	work_release(&w);
	if (rc < 0)
		elog_assign_result_release(out);
	return rc;
}

static const char *const strategy_names[ELOG_ASSIGN__COUNT] = {
	[ELOG_ASSIGN_STICKY] = "sticky",
	[ELOG_ASSIGN_RANGE] = "range",
	[ELOG_ASSIGN_ROUNDROBIN] = "roundrobin",
};

const char *elog_assign_strategy_name(enum elog_assign_strategy s)
{
	return (unsigned)s < ELOG_ASSIGN__COUNT ? strategy_names[s] : "unknown";
}

int elog_assign_strategy_parse(const char *name, enum elog_assign_strategy *out,
			       struct elog_err *err)
{
	for (int s = 0; s < ELOG_ASSIGN__COUNT; s++)
		if (name && strcmp(name, strategy_names[s]) == 0) {
			*out = (enum elog_assign_strategy)s;
			return 0;
		}
	return elog_err_set(err, ELOG_E_INVAL, "assign: unknown strategy \"%.*s\" (sticky, range, roundrobin)",
			    QUOTE_MAX, name ? name : "");
}

/* ----------------------------------------------------------- reconciliation */

void elog_assign_handover_init(struct elog_assign_handover *h)
{
	memset(h, 0, sizeof(*h));
}

void elog_assign_handover_release(struct elog_assign_handover *h)
{
	free(h->members);
	free(h->now_pool_);
	free(h->release_pool_);
	elog_assign_handover_init(h);
}

struct reconcile {
	struct topic_index index;
	uint32_t *base;        /* [topics + 1] by topic index */
	uint32_t *target_of;   /* [partitions]: member whose target has it, or NONE */
	uint32_t *holders;     /* [partitions]: members that own it */
	uint32_t *mark;        /* [partitions]: member + 1 that last looked at it */
};

static void reconcile_release(struct reconcile *rc)
{
	topic_index_release(&rc->index);
	free(rc->base);
	free(rc->target_of);
	free(rc->holders);
	free(rc->mark);
}

/* Check the targets (exclusive, existing partitions) and the owned lists;
 * fill target_of and holders; *owned_total gets the owned entries. */
static int reconcile_scan(struct reconcile *rc, const struct elog_assign_set *target,
			  const struct elog_assign_owned *owned, uint32_t members,
			  uint64_t *owned_total, struct elog_err *err)
{
	const struct elog_assign_topic *topics = rc->index.topics;

	for (uint32_t i = 0; i < members; i++) {
		if ((target[i].count > 0 && !target[i].tp) || (owned[i].count > 0 && !owned[i].partitions))
			return elog_err_set(err, ELOG_E_INVAL, "assign: member %u: a count but no array", i);
		for (uint32_t k = 0; k < target[i].count; k++) {
			const struct elog_assign_tp *tp = &target[i].tp[k];
			if (tp->topic >= rc->index.count || tp->partition >= topics[tp->topic].partitions)
				return elog_err_set(err, ELOG_E_INVAL, "assign: member %u: target names no partition (topic %u, partition %u)",
						    i, tp->topic, tp->partition);
			if (rc->target_of[rc->base[tp->topic] + tp->partition] != NONE)
				return elog_err_set(err, ELOG_E_INVAL, "assign: partition %u of \"%.*s\" in two targets",
						    tp->partition, QUOTE_MAX, topics[tp->topic].name);
			rc->target_of[rc->base[tp->topic] + tp->partition] = i;
		}
		*owned_total += owned[i].count;
		if (*owned_total > ELOG_ASSIGN_PARTITIONS_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "assign: more than %d owned entries in all",
					    ELOG_ASSIGN_PARTITIONS_MAX);
		for (uint32_t k = 0; k < owned[i].count; k++) {
			uint32_t gid;
			if (!owned[i].partitions[k].topic)
				return elog_err_set(err, ELOG_E_INVAL, "assign: member %u: owned entry %u has no topic", i, k);
			gid = ref_resolve(&rc->index, rc->base, &owned[i].partitions[k]);
			if (gid != NONE && rc->mark[gid] != i + 1) {
				rc->mark[gid] = i + 1;
				rc->holders[gid]++;
			}
		}
	}
	return 0;
}

/* Member i's release list, now list, waiting and untouched. */
static void reconcile_member(struct reconcile *rc, uint32_t i, const struct elog_assign_set *target,
			     const struct elog_assign_owned *owned,
			     struct elog_assign_handover_member *hm, struct elog_assign_tp *now,
			     struct elog_assign_ref *release)
{
	uint32_t owns = 0;  /* partitions of its target it owns */

	hm->now.tp = now;
	hm->release = release;
	for (uint32_t k = 0; k < owned->count; k++) {
		uint32_t gid = ref_resolve(&rc->index, rc->base, &owned->partitions[k]);
		if (gid != NONE && rc->mark[gid] == NONE - i)
			continue;               /* a repeat */
		if (gid != NONE)
			rc->mark[gid] = NONE - i;
		if (gid == NONE || rc->target_of[gid] != i)
			release[hm->release_count++] = owned->partitions[k];
		else
			owns++;
	}
	for (uint32_t k = 0; k < target->count; k++) {
		uint32_t gid = rc->base[target->tp[k].topic] + target->tp[k].partition;
		if (rc->mark[gid] == NONE - i || rc->holders[gid] == 0)
			now[hm->now.count++] = target->tp[k];
		else
			hm->waiting++;
	}
	hm->untouched = hm->release_count == 0 && owns == target->count;
}

int elog_assign_reconcile(const struct elog_assign_topic *topics, uint32_t topic_count,
			  const struct elog_assign_set *target, const struct elog_assign_owned *owned,
			  uint32_t member_count, struct elog_assign_handover *out,
			  struct elog_err *err)
{
	struct reconcile rc = { 0 };
	uint64_t owned_total = 0, target_total = 0;
	int ret = -1;

	elog_assign_handover_init(out);
	if (member_count > ELOG_ASSIGN_MEMBERS_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "assign: %u members: more than %d",
				    member_count, ELOG_ASSIGN_MEMBERS_MAX);
	if (member_count > 0 && (!target || !owned))
		return elog_err_set(err, ELOG_E_INVAL, "assign: %u members but no array", member_count);
	if (topic_index_build(&rc.index, topics, topic_count, err) < 0)
		goto out;
	rc.base = alloc_array(topic_count + 1, sizeof(uint32_t));
	rc.target_of = alloc_array(rc.index.partitions, sizeof(uint32_t));
	rc.holders = alloc_array(rc.index.partitions, sizeof(uint32_t));
	rc.mark = alloc_array(rc.index.partitions, sizeof(uint32_t));
	if (!rc.base || !rc.target_of || !rc.holders || !rc.mark) {
		out_of_memory(err);
		goto out;
	}
	for (uint32_t t = 0; t < topic_count; t++)
		rc.base[t + 1] = rc.base[t] + topics[t].partitions;
	for (uint32_t gid = 0; gid < rc.index.partitions; gid++)
		rc.target_of[gid] = NONE;
	if (reconcile_scan(&rc, target, owned, member_count, &owned_total, err) < 0)
		goto out;
	for (uint32_t i = 0; i < member_count; i++)
		target_total += target[i].count;
	out->members = alloc_array(member_count, sizeof(*out->members));
	out->now_pool_ = alloc_array(target_total, sizeof(*out->now_pool_));
	out->release_pool_ = alloc_array(owned_total, sizeof(*out->release_pool_));
	if (!out->members || !out->now_pool_ || !out->release_pool_) {
		out_of_memory(err);
		goto out;
	}
	out->member_count = member_count;
	out->stable = 1;
	for (uint32_t i = 0, now_at = 0, release_at = 0; i < member_count; i++) {
		struct elog_assign_handover_member *hm = &out->members[i];
		reconcile_member(&rc, i, &target[i], &owned[i], hm, out->now_pool_ + now_at,
				 out->release_pool_ + release_at);
		now_at += hm->now.count;
		release_at += hm->release_count;
		out->stable &= hm->untouched;
	}
	ret = 0;
out:
	reconcile_release(&rc);
	if (ret < 0)
		elog_assign_handover_release(out);
	return ret;
}

int elog_assign_stable(const struct elog_assign_topic *topics, uint32_t topic_count,
		       const struct elog_assign_set *target, const struct elog_assign_owned *owned,
		       uint32_t member_count, struct elog_err *err)
{
	struct elog_assign_handover h;
	int stable;

	if (elog_assign_reconcile(topics, topic_count, target, owned, member_count, &h, err) < 0)
		return -1;
	stable = h.stable;
	elog_assign_handover_release(&h);
	return stable;
}
