/*
 * broker_member.c — consumer group membership (docs/groups.md,
 * "Membership"): GROUP_HEARTBEAT, the target assignment (libcore/assign.c),
 * its hand-over step by step, member epochs, sessions, static members, and
 * the group record that makes all of it survive a failover.
 *
 * What is kept where. The coordinator holds, per group with members, a
 * group_state: the group epoch, the strategy, and per member its id,
 * instance id, subscription, target (what the assignor gave it), target
 * epoch, what it reported owning (soft: its last heartbeat) and what it was
 * last told it may own. Whenever the targets change (a join, a leave, a
 * session expiry, a subscription or a partition count changing) the group
 * epoch moves on and the group record (key type 2 in the group's __groups
 * partition) is appended; no member hears of the change before that record
 * is committed and read back into the table (`durable` reaches `epoch`), so
 * a coordinator that fails never told a member anything its successor does
 * not know. A successor builds the state from the record: every member
 * owns its target until it heartbeats (it may still be reading it), its
 * session restarts, and any epoch up to its target's is accepted from it
 * once (it may not have heard of the last record).
 *
 * The hand-over (elog_assign_reconcile): a member may own its target less
 * what another member still reports owning or was given in its last answer
 * (which may still be on its way to it); it releases what it owns
 * outside its target, commits, and says so in its next heartbeat, which it
 * sends at once. So a partition is never given before it was given up, and
 * members whose targets do not move never pause.
 *
 * Fencing: a heartbeat or commit from a member id the group does not have
 * (expired, left, replaced by its static instance) is UNKNOWN_MEMBER_ID; a
 * member epoch other than the one it was told, FENCED_MEMBER_EPOCH; a
 * commit of a partition the member neither owns nor was given is refused
 * per partition. A standalone commit (no member: elog-replay) is refused
 * while the group has members (GROUP_NOT_EMPTY, naming them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "assign.h"
#include "broker.h"
#include "broker_group.h"
#include "broker_int.h"
#include "broker_raft.h"
#include "bytes.h"
#include "flusher.h"
#include "logfmt.h"

#define MEMBER_ID_MAX 48
#define GROUP_NAME_BYTES 255
#define MEMBER_TEXT_MAX 255        /* instance id, client id */
#define GROUP_MEMBERS_MAX 500
#define MEMBER_TOPICS_MAX 100      /* a member's subscription */
#define MEMBER_OWNED_MAX ELOG_ASSIGN_PARTITIONS_MAX /* partitions a heartbeat reports, a
						      target holds (the assignor's bound) */
#define MEMBERS_MAX 10000          /* in all groups this broker coordinates */
#define UNHEARD_HEARTBEAT_MS 100   /* the interval while a loaded member is unheard */
#define RECORD_RETRY_MS 1000       /* a group record that failed is tried again after */
#define GROUP_NAMES_MAX 4000       /* topic names a group's state holds */
#define SESSION_MIN_MS 1000
#define SESSION_MAX_MS 300000
#define HEARTBEAT_MS 500           /* the interval answered to a settled member */
#define HEARTBEAT_SOON_MS 10       /* ... to one whose hand-over is under way */
#define EXPIRY_TICK_MS 200
#define GROUP_RECORD_VERSION 1

struct member {
	char id[MEMBER_ID_MAX + 1];
	char *instance;                 /* static member; NULL: dynamic */
	char *client;                   /* what the client calls itself, for messages */
	int32_t epoch;                  /* of its target */
	int32_t told;                   /* the epoch it was last answered */
	int loaded;                     /* from a record, not told since: any epoch up to
					   its target's is its own */
	int unheard;                    /* from a record, no heartbeat since: what it owns is
					   unknown, so nobody is given anything meanwhile */
	int left;                       /* a static member away (epoch -2) */
	uint32_t session_ms;
	int64_t deadline_ms;            /* loop clock */
	const char **topics;            /* subscription (interned names) */
	uint32_t topic_count;
	struct elog_assign_ref *target, *owned, *given;
	uint32_t target_count, owned_count, given_count;
	uint32_t waiting;               /* of its target, partitions others still own */
};

struct group_state {
	struct group_state *next;
	char name[GROUP_NAME_BYTES + 1]; /* NUL-terminated */
	size_t len;
	uint32_t index;                 /* its __groups partition */
	uint64_t term;                  /* the leader term this state belongs to */
	int32_t epoch;                  /* the group epoch */
	int32_t durable;                /* the newest epoch read back from the log */
	int32_t written;                /* the newest epoch appended */
	int64_t retry_ms;               /* a failed record write or recompute: not again before */
	int dirty;                      /* targets to compute again (the last try failed) */
	enum elog_assign_strategy strategy;
	char **names;                   /* interned topic names */
	uint32_t *counts;               /* their partition counts at the last computation */
	uint32_t name_count, name_cap;
	struct member *members;
	uint32_t member_count, member_cap;
};

/* ---------------------------------------------------------------- state */

static void member_release(struct member *m)
{
	free(m->instance);
	free(m->client);
	free(m->topics);
	free(m->target);
	free(m->owned);
	free(m->given);
	memset(m, 0, sizeof(*m));
}

static void state_free(struct group_state *g)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		member_release(&g->members[i]);
	free(g->members);
	for (uint32_t i = 0; i < g->name_count; i++)
		free(g->names[i]);
	free(g->names);
	free(g->counts);
	free(g);
}

static void state_unlink(struct elog_groups *gs, struct group_state *g)
{
	for (struct group_state **at = &gs->states; *at; at = &(*at)->next)
		if (*at == g) {
			*at = g->next;
			break;
		}
	state_free(g);
}

void elog_member_forget_all(struct elog_broker *b)
{
	struct elog_groups *gs = b->groups;

	if (!gs)
		return;
	while (gs->states) {
		struct group_state *g = gs->states;
		gs->states = g->next;
		state_free(g);
	}
	elog_loop_timer_stop(&b->loop, &gs->member_timer);
}

/* The interned copy of name; NULL out of memory or past GROUP_NAMES_MAX. */
static const char *intern(struct group_state *g, const char *name, size_t len)
{
	for (uint32_t i = 0; i < g->name_count; i++)
		if (strlen(g->names[i]) == len && memcmp(g->names[i], name, len) == 0)
			return g->names[i];
	if (g->name_count >= GROUP_NAMES_MAX)
		return NULL;
	if (g->name_count == g->name_cap) {
		uint32_t cap = g->name_cap ? g->name_cap * 2 : 16;
		char **names = realloc(g->names, cap * sizeof(*names));
		uint32_t *counts;
		if (!names)
			return NULL;
		g->names = names;
		if (!(counts = realloc(g->counts, cap * sizeof(*counts))))
			return NULL;
		g->counts = counts;
		g->name_cap = cap;
	}
	if (!(g->names[g->name_count] = malloc(len + 1)))
		return NULL;
	memcpy(g->names[g->name_count], name, len);
	g->names[g->name_count][len] = 0;
	g->counts[g->name_count] = UINT32_MAX;
	return g->names[g->name_count++];
}

static struct member *member_find(struct group_state *g, const char *id, size_t len)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		if (strlen(g->members[i].id) == len && memcmp(g->members[i].id, id, len) == 0)
			return &g->members[i];
	return NULL;
}

static struct member *member_add(struct group_state *g)
{
	if (g->member_count == g->member_cap) {
		uint32_t cap = g->member_cap ? g->member_cap * 2 : 8;
		struct member *grown = realloc(g->members, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		g->members = grown;
		g->member_cap = cap;
	}
	memset(&g->members[g->member_count], 0, sizeof(struct member));
	return &g->members[g->member_count++];
}

static void member_remove(struct group_state *g, struct member *m)
{
	member_release(m);
	*m = g->members[--g->member_count];
}

static int refs_set(struct elog_assign_ref **dst, uint32_t *count, const struct elog_assign_ref *src,
		    uint32_t n)
{
	struct elog_assign_ref *copy = NULL;

	if (n && !(copy = malloc(n * sizeof(*copy))))
		return -1;
	if (n)
		memcpy(copy, src, n * sizeof(*copy));
	free(*dst);
	*dst = copy;
	*count = n;
	return 0;
}

/*
 * What a member owns and was given are kept sorted by (interned topic
 * pointer, partition), so that a lookup is a binary search: a member may
 * hold 100,000 partitions and every heartbeat and commit looks some up.
 * Names are interned per group, so one name is one pointer.
 */
static int ref_cmp(const void *a, const void *b)
{
	const struct elog_assign_ref *x = a, *y = b;
	uintptr_t px = (uintptr_t)x->topic, py = (uintptr_t)y->topic;

	if (px != py)
		return px < py ? -1 : 1;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Sort refs[0..*n) and drop repeats. */
static void refs_sort(struct elog_assign_ref *refs, uint32_t *n)
{
	uint32_t out = 0;

	if (*n > 1)
		qsort(refs, *n, sizeof(*refs), ref_cmp);
	for (uint32_t i = 0; i < *n; i++)
		if (out == 0 || ref_cmp(&refs[out - 1], &refs[i]) != 0)
			refs[out++] = refs[i];
	*n = out;
}

/* Whether sorted refs[0..n) hold (topic, partition); topic interned. */
static int refs_find(const struct elog_assign_ref *refs, uint32_t n, const char *topic,
		     uint32_t partition)
{
	struct elog_assign_ref key = {topic, partition};

	return n && bsearch(&key, refs, n, sizeof(*refs), ref_cmp) != NULL;
}

/* The group's interned copy of a name, if it has one (nothing added). */
static const char *interned(const struct group_state *g, const char *name, size_t len)
{
	for (uint32_t i = 0; i < g->name_count; i++)
		if (strlen(g->names[i]) == len && memcmp(g->names[i], name, len) == 0)
			return g->names[i];
	return NULL;
}

static char *text_dup(const char *s, size_t len)
{
	char *d;

	if (len == 0)
		return NULL;
	if (!(d = malloc(len + 1)))
		return NULL;
	memcpy(d, s, len);
	d[len] = 0;
	return d;
}

/* ---------------------------------------------------------------- the record */

static size_t group_key(uint8_t *out, const char *group, size_t glen)
{
	out[0] = GROUP_KEY_GROUP;
	elog_put16(out + 1, (uint16_t)glen);
	memcpy(out + 3, group, glen);
	return 3 + glen;
}

static void put_str(struct elog_buf *o, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	elog_put16(o->data + o->len, (uint16_t)n);
	if (n)
		memcpy(o->data + o->len + 2, s, n);
	o->len += 2 + n;
}

static size_t record_size(const struct group_state *g)
{
	size_t n = 1 + 4 + 1 + 2;

	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct member *m = &g->members[i];
		n += 2 + strlen(m->id) + 2 + (m->instance ? strlen(m->instance) : 0) + 2 +
		     (m->client ? strlen(m->client) : 0) + 4 + 4 + 2 + 4;
		for (uint32_t k = 0; k < m->topic_count; k++)
			n += 2 + strlen(m->topics[k]);
		for (uint32_t k = 0; k < m->target_count; k++)
			n += 2 + strlen(m->target[k].topic) + 4;
	}
	return n;
}

/*
 * The value: u8 version 1, i32 group epoch, u8 strategy, u16 members, each
 * string id, string instance id ("" dynamic), string client id, i32 target
 * epoch, u32 session ms, u16 topics x string, u32 target x (string topic,
 * u32 partition). Strings are u16 length, bytes.
 */
static int record_encode(const struct group_state *g, struct elog_buf *o, struct elog_err *err)
{
	size_t need = record_size(g);

	elog_buf_reset(o);
	if (elog_buf_reserve(o, need, err) < 0)
		return -1;
	o->data[0] = GROUP_RECORD_VERSION;
	elog_put32(o->data + 1, (uint32_t)g->epoch);
	o->data[5] = (uint8_t)g->strategy;
	elog_put16(o->data + 6, (uint16_t)g->member_count);
	o->len = 8;
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct member *m = &g->members[i];
		put_str(o, m->id);
		put_str(o, m->instance);
		put_str(o, m->client);
		elog_put32(o->data + o->len, (uint32_t)m->epoch);
		elog_put32(o->data + o->len + 4, m->session_ms);
		elog_put16(o->data + o->len + 8, (uint16_t)m->topic_count);
		o->len += 10;
		for (uint32_t k = 0; k < m->topic_count; k++)
			put_str(o, m->topics[k]);
		elog_put32(o->data + o->len, m->target_count);
		o->len += 4;
		for (uint32_t k = 0; k < m->target_count; k++) {
			put_str(o, m->target[k].topic);
			elog_put32(o->data + o->len, m->target[k].partition);
			o->len += 4;
		}
	}
	return 0;
}

struct rd {
	const uint8_t *p, *end;
	int bad;
};

/* n (1, 2 or 4) bytes, little-endian as everything elog writes. */
static uint32_t rd_n(struct rd *r, size_t n)
{
	uint32_t v;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	v = n == 1 ? r->p[0] : n == 2 ? elog_get16(r->p) : elog_get32(r->p);
	r->p += n;
	return v;
}

static const char *rd_str(struct rd *r, size_t *len)
{
	const char *s;

	*len = rd_n(r, 2);
	if (r->bad || (size_t)(r->end - r->p) < *len) {
		r->bad = 1;
		*len = 0;
		return "";
	}
	s = (const char *)r->p;
	r->p += *len;
	return s;
}

/* A state from a record's value; NULL (logged by the caller) when it does
 * not decode or memory is short. */
static struct group_state *record_decode(const uint8_t *v, size_t len, int64_t now)
{
	struct group_state *g = calloc(1, sizeof(*g));
	struct rd r = {v, v + len, 0};
	uint32_t members;

	if (!g)
		return NULL;
	if (rd_n(&r, 1) != GROUP_RECORD_VERSION)
		goto bad;
	g->epoch = g->durable = g->written = (int32_t)rd_n(&r, 4);
	g->strategy = (enum elog_assign_strategy)rd_n(&r, 1);
	if (g->strategy >= ELOG_ASSIGN__COUNT)
		goto bad;
	members = rd_n(&r, 2);
	for (uint32_t i = 0; i < members && !r.bad; i++) {
		struct member *m = member_add(g);
		const char *s;
		size_t sl;
		uint32_t n;
		if (!m)
			goto bad;
		s = rd_str(&r, &sl);
		if (sl == 0 || sl > MEMBER_ID_MAX)
			goto bad;
		memcpy(m->id, s, sl);
		s = rd_str(&r, &sl);
		m->instance = text_dup(s, sl);
		s = rd_str(&r, &sl);
		m->client = text_dup(s, sl);
		m->epoch = m->told = (int32_t)rd_n(&r, 4);
		m->session_ms = rd_n(&r, 4);
		m->loaded = 1;
		m->unheard = 1;
		m->deadline_ms = now + m->session_ms;
		n = rd_n(&r, 2);
		if (n && !(m->topics = calloc(n, sizeof(*m->topics))))
			goto bad;
		for (uint32_t k = 0; k < n && !r.bad; k++) {
			s = rd_str(&r, &sl);
			if (!(m->topics[m->topic_count++] = intern(g, s, sl)))
				goto bad;
		}
		n = rd_n(&r, 4);
		if (n > MEMBER_OWNED_MAX || (n && !(m->target = calloc(n, sizeof(*m->target)))))
			goto bad;
		for (uint32_t k = 0; k < n && !r.bad; k++) {
			s = rd_str(&r, &sl);
			if (!(m->target[k].topic = intern(g, s, sl)))
				goto bad;
			m->target[k].partition = rd_n(&r, 4);
			m->target_count++;
		}
		/* Until it heartbeats it owns its target (it may be reading it). */
		if (refs_set(&m->owned, &m->owned_count, m->target, m->target_count) < 0 ||
		    refs_set(&m->given, &m->given_count, m->target, m->target_count) < 0)
			goto bad;
		refs_sort(m->owned, &m->owned_count);
		refs_sort(m->given, &m->given_count);
	}
	if (r.bad || r.p != r.end)
		goto bad;
	return g;
bad:
	state_free(g);
	return NULL;
}

static struct elog_partition *groups_partition(struct elog_broker *b, uint32_t index)
{
	struct elog_topic *t = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
					       strlen(ELOG_GROUPS_TOPIC));

	return t && index < t->partition_count ? t->partitions[index] : NULL;
}

/* Append the group record (answered to nobody: the members learn of it
 * once it is read back). 0, or -1 logged. */
static int record_write(struct elog_broker *b, struct group_state *g)
{
	struct elog_groups *gs = b->groups;
	struct elog_topic *t = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
					       strlen(ELOG_GROUPS_TOPIC));
	uint8_t key[3 + GROUP_NAME_BYTES];
	struct elog_record rec = {0};
	struct wait_part part;
	struct elog_buf value;
	const uint8_t *batch;
	struct elog_err err;
	size_t blen;
	char v[ELOG_LOG_VALUE_MAX];

	if (!t)
		return -1;
	if (elog_loop_now_ms(&b->loop) < g->retry_ms)
		return -1;
	elog_buf_init(&value, 64u << 20);
	memset(&part, 0, sizeof(part));
	if (record_encode(g, &value, &err) < 0)
		goto failed;
	rec.key = key;
	rec.key_len = (int32_t)group_key(key, g->name, g->len);
	rec.value = value.data;
	rec.value_len = (int32_t)value.len;
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rec.timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	elog_batch_builder_reset(&gs->builder);
	if (elog_batch_builder_add(&gs->builder, &rec, &err) < 0 ||
	    elog_batch_builder_finish(&gs->builder, &batch, &blen, &err) < 0)
		goto failed;
	part.id = g->index;
	elog_broker_append_part(b, t, &part, (uint8_t *)batch, blen);
	if (part.error) {
		elog_err_set(&err, ELOG_E_IO, "%s", part.message);
		goto failed;
	}
	elog_flusher_kick(&b->flusher);
	elog_buf_release(&value);
	g->written = g->epoch;
	return 0;
failed:
	elog_buf_release(&value);
	g->retry_ms = elog_loop_now_ms(&b->loop) + RECORD_RETRY_MS;
	elog_broker_logf(b, ELOG_LOG_WARN, "group record not written",
			 "group=%s epoch=%" PRId32 " error=%s",
			 elog_logfmt_value(v, sizeof(v), g->name), g->epoch,
			 elog_logfmt_value(v + sizeof(v) / 2, sizeof(v) / 2, err.msg));
	return -1;
}

void elog_member_record_read(struct elog_broker *b, uint32_t index, const uint8_t *key,
			     size_t key_len, const uint8_t *value, int32_t value_len)
{
	struct elog_groups *gs = b->groups;
	struct group_state *g, *next;
	size_t glen;

	if (!gs)
		return;
	if (!key) {
		for (g = gs->states; g; g = next) {
			next = g->next;
			if (g->index == index)
				state_unlink(gs, g);
		}
		return;
	}
	if (key_len < 3 || (glen = elog_get16(key + 1)) != key_len - 3 || value_len < 5)
		return;
	for (g = gs->states; g; g = g->next)
		if (g->index == index && g->len == glen && memcmp(g->name, key + 3, glen) == 0) {
			int32_t epoch = (int32_t)elog_get32(value + 1);
			if (value[0] == GROUP_RECORD_VERSION && epoch > g->durable)
				g->durable = epoch;
			return;
		}
}

/* ---------------------------------------------------------------- sessions */

static void timer_arm(struct elog_broker *b)
{
	struct elog_groups *gs = b->groups;

	if (!elog_timer_armed(&gs->member_timer))
		elog_loop_timer_start(&b->loop, &gs->member_timer,
				      elog_loop_now_ms(&b->loop) + EXPIRY_TICK_MS, NULL);
}

/*
 * The group's state as this coordinator holds it: made from its record
 * when first needed (or when the partition's leader term moved on: what
 * was held belongs to an older leadership), a new empty one with create;
 * NULL when there is none (or memory is short: *nomem).
 */
static struct group_state *state_get(struct elog_broker *b, uint32_t index,
				     const struct group_table *tb, const char *group, size_t glen,
				     int create, int *nomem)
{
	struct elog_groups *gs = b->groups;
	struct elog_partition *p = groups_partition(b, index);
	uint64_t term = p ? elog_broker_raft_leader_term(p) : 0;
	struct group_state *g;
	uint8_t key[3 + GROUP_NAME_BYTES];
	const struct kv *e;

	*nomem = 0;
	for (g = gs->states; g; g = g->next)
		if (g->index == index && g->len == glen && memcmp(g->name, group, glen) == 0)
			break;
	if (g && g->term == term)
		return g;
	if (g)
		state_unlink(gs, g);
	e = elog_group_kv_get(tb, key, group_key(key, group, glen));
	if (e) {
		g = record_decode(e->data + e->key_len, e->value_len, elog_loop_now_ms(&b->loop));
		if (!g) {
			char v[ELOG_LOG_VALUE_MAX], name[GROUP_NAME_BYTES + 1];
			memcpy(name, group, glen);
			name[glen] = 0;
			elog_broker_logf(b, ELOG_LOG_WARN, "group record not understood",
					 "group=%s action=starting-empty",
					 elog_logfmt_value(v, sizeof(v), name));
		}
	}
	if (!g && !create && !e)
		return NULL;
	if (!g && !(g = calloc(1, sizeof(*g)))) {
		*nomem = 1;
		return NULL;
	}
	memcpy(g->name, group, glen);
	g->len = glen;
	g->index = index;
	g->term = term;
	g->next = gs->states;
	gs->states = g;
	timer_arm(b);
	return g;
}

static int strategy_of(const char *name, size_t len, enum elog_assign_strategy *s)
{
	char buf[32];
	struct elog_err err;

	if (len == 0) {
		*s = ELOG_ASSIGN_STICKY;
		return 0;
	}
	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, name, len);
	buf[len] = 0;
	return elog_assign_strategy_parse(buf, s, &err);
}

/*
 * The targets afresh (the group changed): the assignor over the topics
 * that exist, the group epoch moved on, the members whose target moved
 * given that epoch, the record appended. 0, or -1 with err.
 */
static int recompute(struct elog_broker *b, struct group_state *g, struct elog_err *err)
{
	const struct elog_topic *gt = elog_store_find(b->store, ELOG_GROUPS_TOPIC,
						      strlen(ELOG_GROUPS_TOPIC));
	struct elog_assign_topic *topics = NULL;
	struct elog_assign_member *members = NULL;
	struct elog_assign_ref **next = NULL;
	uint32_t *counts = NULL;
	struct elog_assign_result res;
	uint32_t tc = 0;
	size_t size;
	int rc = -1;

	elog_assign_result_init(&res);
	if ((g->name_count && (!(topics = calloc(g->name_count, sizeof(*topics))) ||
			       !(counts = calloc(g->name_count, sizeof(*counts))))) ||
	    (g->member_count && (!(members = calloc(g->member_count, sizeof(*members))) ||
				 !(next = calloc(g->member_count, sizeof(*next)))))) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < g->name_count; i++) {
		const struct elog_topic *t = elog_store_find(b->store, g->names[i],
							     strlen(g->names[i]));
		counts[i] = t ? t->partition_count : UINT32_MAX;
		if (t && !elog_store_internal_name(t->name, strlen(t->name)))
			topics[tc++] = (struct elog_assign_topic){g->names[i], t->partition_count};
	}
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct member *m = &g->members[i];
		members[i] = (struct elog_assign_member){m->id, m->instance, m->topics,
							 m->topic_count, m->target,
							 m->target_count};
	}
	{
		struct elog_assign_group ag = {topics, tc, members, g->member_count, 0};
		if (elog_assign_compute(&ag, g->strategy, &res, err) < 0)
			goto out;
	}
	/* The new targets aside, and the record they make measured, before
	 * anything changes: a change the record cannot hold is refused whole. */
	size = record_size(g);
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct elog_assign_set *set = &res.members[i];
		const struct member *m = &g->members[i];
		if (set->count && !(next[i] = malloc(set->count * sizeof(**next)))) {
			elog_err_set(err, ELOG_E_NOMEM, "out of memory");
			goto out;
		}
		for (uint32_t k = 0; k < m->target_count; k++)
			size -= 2 + strlen(m->target[k].topic) + 4;
		for (uint32_t k = 0; k < set->count; k++) {
			next[i][k].topic = topics[set->tp[k].topic].name;
			next[i][k].partition = set->tp[k].partition;
			size += 2 + strlen(next[i][k].topic) + 4;
		}
	}
	if (gt && size + 3 + g->len + 256 > gt->config.record_bytes_max) {
		elog_err_set(err, ELOG_E_LIMIT, "the group's record would take %zu bytes, more than "
			     "%s holds (%u): fewer members, topics or partitions", size,
			     ELOG_GROUPS_TOPIC, gt->config.record_bytes_max);
		goto out;
	}
	g->epoch++;
	memcpy(g->counts, counts, g->name_count * sizeof(*counts));
	for (uint32_t i = 0; i < g->member_count; i++) {
		struct member *m = &g->members[i];
		const struct elog_assign_set *set = &res.members[i];
		/* Both in the assignor's order (by the names' order, then
		 * partition): the same target is the same array. */
		int same = set->count == m->target_count;
		for (uint32_t k = 0; k < set->count && same; k++)
			same = m->target[k].topic == next[i][k].topic &&
			       m->target[k].partition == next[i][k].partition;
		free(m->target);
		m->target = next[i];
		next[i] = NULL;
		m->target_count = set->count;
		if (!same || m->epoch == 0)
			m->epoch = g->epoch;
	}
	g->retry_ms = 0;
	g->dirty = 0;
	record_write(b, g);
	rc = 0;
out:
	for (uint32_t i = 0; next && i < g->member_count; i++)
		free(next[i]);
	free(next);
	elog_assign_result_release(&res);
	free(topics);
	free(counts);
	free(members);
	return rc;
}

/* A topic named in the group was created, deleted or grew. */
static int counts_moved(struct elog_broker *b, const struct group_state *g)
{
	for (uint32_t i = 0; i < g->name_count; i++) {
		const struct elog_topic *t = elog_store_find(b->store, g->names[i],
							     strlen(g->names[i]));
		if ((t ? t->partition_count : UINT32_MAX) != g->counts[i])
			return 1;
	}
	return 0;
}

/* New targets could not be made: the old ones stand; tried again later. */
static void reassign_failed(struct elog_broker *b, struct group_state *g, int64_t now,
			    const struct elog_err *err)
{
	char v[ELOG_LOG_VALUE_MAX];

	g->dirty = 1;
	g->retry_ms = now + RECORD_RETRY_MS;
	elog_broker_logf(b, ELOG_LOG_WARN, "group not reassigned", "group=%s error=%s",
			 elog_logfmt_value(v, sizeof(v), g->name), err->msg);
}

void elog_member_on_timer(struct elog_loop *loop, void *ctx)
{
	struct elog_broker *b = ctx;
	struct elog_groups *gs = b->groups;
	int64_t now = elog_loop_now_ms(loop);
	struct group_state *g, *next;
	struct elog_err err;
	char v[ELOG_LOG_VALUE_MAX];

	for (g = gs->states; g; g = next) {
		struct elog_partition *p = groups_partition(b, g->index);
		int changed = 0;
		next = g->next;
		/* Not led here any more (or in another term): forgotten; the
		 * record holds what matters. */
		if (!p || elog_broker_raft_leader_term(p) != g->term) {
			state_unlink(gs, g);
			continue;
		}
		for (uint32_t i = 0; i < g->member_count;) {
			struct member *m = &g->members[i];
			if (now < m->deadline_ms) {
				i++;
				continue;
			}
			elog_broker_logf(b, ELOG_LOG_INFO, "group member expired",
					 "group=%s member=%s session_ms=%" PRIu32,
					 elog_logfmt_value(v, sizeof(v), g->name), m->id,
					 m->session_ms);
			member_remove(g, m);
			changed = 1;
		}
		if (!changed && g->member_count && counts_moved(b, g))
			changed = 1;
		changed |= g->dirty;
		if (changed && now < g->retry_ms) {
			g->dirty = 1;   /* failed a moment ago: later */
		} else if (changed && recompute(b, g, &err) < 0) {
			reassign_failed(b, g, now, &err);
		} else if (!changed && g->written < g->epoch) {
			record_write(b, g);
		}
		/* Nothing left to watch: forgotten (its record stays). */
		if (g->member_count == 0 && g->durable >= g->epoch)
			state_unlink(gs, g);
	}
	if (gs->states)
		elog_loop_timer_start(loop, &gs->member_timer, now + EXPIRY_TICK_MS, NULL);
}

/* ---------------------------------------------------------------- commits */

int elog_member_commit_check(struct elog_broker *b, uint32_t index, const struct group_table *tb,
			     const char *group, size_t glen, const char *member, size_t mlen,
			     int32_t epoch, struct group_state **out, int16_t *code, char *msg,
			     size_t cap)
{
	struct group_state *g;
	struct member *m;
	int nomem;

	*out = NULL;
	g = state_get(b, index, tb, group, glen, 0, &nomem);
	if (nomem) {
		*code = ELOG_PE_RESOURCE_LIMIT;
		snprintf(msg, cap, "out of memory");
		return -1;
	}
	if (mlen == 0) {
		size_t at;
		if (!g || g->member_count == 0)
			return 0;
		*code = ELOG_PE_GROUP_NOT_EMPTY;
		at = (size_t)snprintf(msg, cap, "group '%.*s' has %u active member%s:", (int)glen,
				      group, g->member_count, g->member_count == 1 ? "" : "s");
		for (uint32_t i = 0; i < g->member_count && i < 4 && at < cap; i++) {
			const struct member *x = &g->members[i];
			at += (size_t)snprintf(msg + at, cap - at, " %s%s%.60s%s", x->id,
					       x->client ? " (" : "", x->client ? x->client : "",
					       x->client ? ")" : "");
		}
		if (g->member_count > 4 && at < cap)
			snprintf(msg + at, cap - at, " ...");
		return -1;
	}
	if (!g || !(m = member_find(g, member, mlen))) {
		*code = ELOG_PE_UNKNOWN_MEMBER_ID;
		snprintf(msg, cap, "member %.*s is not in group '%.*s' (its session expired, or it "
			 "left)", (int)(mlen < 64 ? mlen : 64), member, (int)glen, group);
		return -1;
	}
	if (m->loaded ? epoch > m->epoch : epoch != m->told) {
		*code = ELOG_PE_FENCED_MEMBER_EPOCH;
		snprintf(msg, cap, "member %s: epoch %" PRId32 " is not its current %" PRId32, m->id,
			 epoch, m->loaded ? m->epoch : m->told);
		return -1;
	}
	*out = g;
	return 0;
}

int elog_member_may_commit_partition(const struct group_state *g, const char *member,
				     size_t mlen, const char *topic, size_t tlen,
				     uint32_t partition)
{
	const struct member *m = member_find((struct group_state *)g, member, mlen);

	/* A member a new coordinator loaded and has not heard from may own
	 * anything an older target gave it (the record has its newest target
	 * only); nobody is given anything meanwhile, so its commits stand. */
	const char *name = interned(g, topic, tlen);

	return m && (m->unheard || (name && (refs_find(m->owned, m->owned_count, name, partition) ||
					     refs_find(m->given, m->given_count, name, partition))));
}

/* ---------------------------------------------------------------- GROUP_HEARTBEAT */

struct heartbeat {
	const char *group, *member, *instance, *client, *assignor;
	size_t glen, mlen, ilen, clen, alen;
	int32_t epoch;
	uint32_t session_ms;
	uint32_t topic_count, owned_topics, owned_count;
	struct elog_wire_r topics, owned; /* positioned at their lists */
};

static int heartbeat_parse(struct elog_wire_r *r, struct heartbeat *h)
{
	const char *s;
	size_t len;

	elog_wire_r_field(r, "group");
	elog_wire_get_string(r, &h->group, &h->glen);
	elog_wire_r_field(r, "member_id");
	elog_wire_get_string(r, &h->member, &h->mlen);
	elog_wire_r_field(r, "instance_id");
	elog_wire_get_string(r, &h->instance, &h->ilen);
	elog_wire_r_field(r, "client_id");
	elog_wire_get_string(r, &h->client, &h->clen);
	elog_wire_r_field(r, "member_epoch");
	h->epoch = elog_wire_get_i32(r);
	elog_wire_r_field(r, "session_timeout_ms");
	h->session_ms = elog_wire_get_u32(r);
	elog_wire_r_field(r, "assignor");
	elog_wire_get_string(r, &h->assignor, &h->alen);
	elog_wire_r_field(r, "topics");
	h->topics = *r;
	h->topic_count = elog_wire_get_count(r, 2);
	for (uint32_t i = 0; i < h->topic_count && !r->failed; i++)
		elog_wire_get_string(r, &s, &len);
	elog_wire_r_field(r, "owned");
	h->owned = *r;
	h->owned_topics = elog_wire_get_count(r, 2 + 4);
	h->owned_count = 0;
	for (uint32_t i = 0; i < h->owned_topics && !r->failed; i++) {
		uint32_t n;
		elog_wire_get_string(r, &s, &len);
		n = elog_wire_get_count(r, 4);
		for (uint32_t k = 0; k < n; k++)
			elog_wire_get_u32(r);
		h->owned_count += n;
	}
	return elog_wire_r_end(r, NULL);
}

static int text_ok(const char *s, size_t len);
static int names_check(const struct heartbeat *h, char *msg, size_t cap);

static int heartbeat_check(const struct heartbeat *h, char *msg, size_t cap)
{
	enum elog_assign_strategy s;

	if (elog_group_name_check(h->group, h->glen, msg, cap) < 0)
		return -1;
	if (h->mlen > MEMBER_ID_MAX || h->ilen > MEMBER_TEXT_MAX || h->clen > MEMBER_TEXT_MAX) {
		snprintf(msg, cap, "a member id is at most %d bytes, instance and client ids %d",
			 MEMBER_ID_MAX, MEMBER_TEXT_MAX);
		return -1;
	}
	if (!text_ok(h->member, h->mlen) || !text_ok(h->instance, h->ilen) ||
	    !text_ok(h->client, h->clen)) {
		snprintf(msg, cap, "member, instance and client ids have no control bytes");
		return -1;
	}
	if (names_check(h, msg, cap) < 0)
		return -1;
	if (h->epoch < -2 || (h->mlen == 0 && h->epoch != 0)) {
		snprintf(msg, cap, "member epoch %" PRId32 ": a join is member \"\" epoch 0, a leave "
			 "epoch -1 (-2 a static member's)", h->epoch);
		return -1;
	}
	if (h->session_ms < SESSION_MIN_MS || h->session_ms > SESSION_MAX_MS) {
		snprintf(msg, cap, "session timeout %" PRIu32 " ms: it is %d to %d ms", h->session_ms,
			 SESSION_MIN_MS, SESSION_MAX_MS);
		return -1;
	}
	if (h->topic_count > MEMBER_TOPICS_MAX || h->owned_count > MEMBER_OWNED_MAX) {
		snprintf(msg, cap, "a member subscribes to at most %d topics and owns at most %d "
			 "partitions", MEMBER_TOPICS_MAX, MEMBER_OWNED_MAX);
		return -1;
	}
	if (strategy_of(h->assignor, h->alen, &s) < 0) {
		snprintf(msg, cap, "assignor '%.*s': sticky, range or roundrobin",
			 (int)(h->alen < 32 ? h->alen : 32), h->assignor);
		return -1;
	}
	return 0;
}

/* The subscription in h, interned, into m (sorted and without repeats is
 * not needed: the assignor counts a name once). 1 when it differs from
 * what m had, 0 same, -1 out of memory or names. */
static int subscription_set(struct group_state *g, struct member *m, const struct heartbeat *h)
{
	struct elog_wire_r r = h->topics;
	const char **topics = NULL;
	uint32_t n = elog_wire_get_count(&r, 2);
	int differs = n != m->topic_count;

	if (n && !(topics = calloc(n, sizeof(*topics))))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		int found = 0;
		elog_wire_get_string(&r, &s, &len);
		if (!(topics[i] = intern(g, s, len))) {
			free(topics);
			return -1;
		}
		for (uint32_t k = 0; k < m->topic_count && !found; k++)
			found = m->topics[k] == topics[i];
		differs |= !found;
	}
	free(m->topics);
	m->topics = topics;
	m->topic_count = n;
	return differs;
}

/*
 * What m reports owning, kept only where it may own it: a partition that
 * exists and that it was given (its last answer) or owned already (its
 * last report); the first report of a member loaded from a record is
 * believed (it may be reading anything its older targets had). So a member
 * cannot claim, and then commit or hold, what it was never given.
 */
static int owned_set(struct elog_broker *b, struct group_state *g, struct member *m,
		     const struct heartbeat *h)
{
	struct elog_wire_r r = h->owned;
	struct elog_assign_ref *owned = NULL;
	uint32_t topics = elog_wire_get_count(&r, 2 + 4), at = 0;

	if (h->owned_count && !(owned = calloc(h->owned_count, sizeof(*owned))))
		return -1;
	for (uint32_t i = 0; i < topics; i++) {
		const char *s, *name;
		const struct elog_topic *t;
		size_t len;
		uint32_t n;
		elog_wire_get_string(&r, &s, &len);
		n = elog_wire_get_count(&r, 4);
		t = elog_store_find(b->store, s, len);
		if (!t || n == 0) {
			for (uint32_t k = 0; k < n; k++)
				elog_wire_get_u32(&r);
			continue;
		}
		if (!(name = intern(g, s, len))) {
			free(owned);
			return -1;
		}
		for (uint32_t k = 0; k < n; k++) {
			uint32_t p = elog_wire_get_u32(&r);
			if (p >= t->partition_count)
				continue;
			if (!m->unheard && !refs_find(m->given, m->given_count, name, p) &&
			    !refs_find(m->owned, m->owned_count, name, p))
				continue;
			owned[at++] = (struct elog_assign_ref){name, p};
		}
	}
	refs_sort(owned, &at);
	free(m->owned);
	m->owned = owned;
	m->owned_count = at;
	m->unheard = 0;
	return 0;
}

/* A member loaded from a record has not said yet what it owns. */
static int group_unheard(const struct group_state *g)
{
	for (uint32_t i = 0; i < g->member_count; i++)
		if (g->members[i].unheard)
			return 1;
	return 0;
}

/* Members of every group held here. */
static uint32_t members_total(const struct elog_groups *gs)
{
	uint32_t n = 0;

	for (const struct group_state *g = gs->states; g; g = g->next)
		n += g->member_count;
	return n;
}

/* 1 when every byte of s[0..len) is printable (no control byte). */
static int text_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The topic names of the subscription and of the owned list are names. */
static int names_check(const struct heartbeat *h, char *msg, size_t cap)
{
	struct elog_wire_r r = h->topics;
	struct elog_err err;
	uint32_t n = elog_wire_get_count(&r, 2);

	for (uint32_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		elog_wire_get_string(&r, &s, &len);
		if (elog_topic_name_check(s, len, 1, &err) < 0) {
			snprintf(msg, cap, "subscription: %.400s", err.msg);
			return -1;
		}
	}
	r = h->owned;
	n = elog_wire_get_count(&r, 2 + 4);
	if (n > MEMBER_TOPICS_MAX * 10) {
		snprintf(msg, cap, "%u topics in the owned list; at most %d", n, MEMBER_TOPICS_MAX * 10);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		uint32_t np;
		elog_wire_get_string(&r, &s, &len);
		if (elog_topic_name_check(s, len, 1, &err) < 0) {
			snprintf(msg, cap, "owned: %.400s", err.msg);
			return -1;
		}
		np = elog_wire_get_count(&r, 4);
		for (uint32_t k = 0; k < np; k++)
			elog_wire_get_u32(&r);
	}
	return 0;
}

/* A new member id: "m-" and 16 random hex digits. */
static void member_id_new(char *out)
{
	uint8_t rnd[8];

	randombytes_buf(rnd, sizeof(rnd));
	out[0] = 'm';
	out[1] = '-';
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 + i * 2, 3, "%02x", rnd[i]);
}

/*
 * What m may own now, into m->given (and m->told moved to its target's
 * epoch): its target less what another member still owns. 1 when it owns
 * exactly its target (settled), 0 when not, -1 with err.
 */
struct name_at {
	const char *name;
	uint32_t index;
};

static int name_at_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct name_at *)a)->name;
	uintptr_t y = (uintptr_t)((const struct name_at *)b)->name;

	return (x > y) - (x < y);
}

static int hand_over(struct group_state *g, struct member *m, struct elog_err *err)
{
	struct name_at *byname = NULL;
	struct elog_assign_topic *topics = NULL;
	struct elog_assign_set *targets = NULL;
	struct elog_assign_owned *owned = NULL;
	struct elog_assign_tp *pool = NULL;
	struct elog_assign_ref *holds = NULL;
	struct elog_assign_handover ho;
	uint32_t total = 0, held = 0, at = 0, at_held = 0, mi = (uint32_t)(m - g->members);
	int rc = -1;

	elog_assign_handover_init(&ho);
	for (uint32_t i = 0; i < g->member_count; i++) {
		total += g->members[i].target_count;
		if (i != mi)
			held += g->members[i].owned_count + g->members[i].given_count;
	}
	if ((g->name_count && (!(topics = calloc(g->name_count, sizeof(*topics))) ||
			       !(byname = calloc(g->name_count, sizeof(*byname))))) ||
	    !(targets = calloc(g->member_count, sizeof(*targets))) ||
	    !(owned = calloc(g->member_count, sizeof(*owned))) ||
	    (total && !(pool = calloc(total, sizeof(*pool)))) ||
	    (held && !(holds = calloc(held, sizeof(*holds))))) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		goto out;
	}
	/* Topics: every interned name, with the counts the targets were
	 * computed with (a target never names more than that); byname finds
	 * a name's index from its pointer. */
	for (uint32_t i = 0; i < g->name_count; i++) {
		topics[i] = (struct elog_assign_topic){g->names[i], g->counts[i] == UINT32_MAX
								    ? 0 : g->counts[i]};
		byname[i] = (struct name_at){g->names[i], i};
	}
	if (g->name_count > 1)
		qsort(byname, g->name_count, sizeof(*byname), name_at_cmp);
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct member *x = &g->members[i];
		targets[i].tp = pool + at;
		for (uint32_t k = 0; k < x->target_count; k++) {
			struct name_at key = {x->target[k].topic, 0};
			const struct name_at *found = bsearch(&key, byname, g->name_count,
							      sizeof(*byname), name_at_cmp);
			pool[at++] = (struct elog_assign_tp){found ? found->index : g->name_count,
							     x->target[k].partition};
		}
		targets[i].count = x->target_count;
		if (i == mi) {
			/* m has just said what it owns; it applied its last
			 * answer before asking again. */
			owned[i] = (struct elog_assign_owned){x->owned, x->owned_count};
			continue;
		}
		/* Another member holds what it says it owns and what it was
		 * last given: the answer may still be on its way to it, and
		 * it starts reading what it names before it says so. */
		owned[i].partitions = holds + at_held;
		if (x->owned_count)
			memcpy(holds + at_held, x->owned, x->owned_count * sizeof(*holds));
		if (x->given_count)
			memcpy(holds + at_held + x->owned_count, x->given,
			       x->given_count * sizeof(*holds));
		owned[i].count = x->owned_count + x->given_count;
		at_held += owned[i].count;
	}
	if (elog_assign_reconcile(topics, g->name_count, targets, owned, g->member_count, &ho,
				  err) < 0)
		goto out;
	{
		const struct elog_assign_handover_member *hm = &ho.members[mi];
		struct elog_assign_ref *given = NULL;
		if (hm->now.count && !(given = malloc(hm->now.count * sizeof(*given)))) {
			elog_err_set(err, ELOG_E_NOMEM, "out of memory");
			goto out;
		}
		for (uint32_t k = 0; k < hm->now.count; k++)
			given[k] = (struct elog_assign_ref){g->names[hm->now.tp[k].topic],
							    hm->now.tp[k].partition};
		free(m->given);
		m->given = given;
		m->given_count = hm->now.count;
		refs_sort(m->given, &m->given_count);
		m->told = m->epoch;
		m->loaded = 0;
		m->waiting = hm->waiting;
		rc = hm->untouched;
	}
out:
	elog_assign_handover_release(&ho);
	free(byname);
	free(topics);
	free(targets);
	free(owned);
	free(pool);
	free(holds);
	return rc;
}

/* refs (runs of one topic: sorted, or in the assignor's order) as
 * array<string topic, array<u32 partition>>. */
static void put_refs(struct elog_wire_w *w, const struct elog_assign_ref *refs, uint32_t n)
{
	uint32_t topics = 0;

	for (uint32_t i = 0; i < n; i++)
		topics += i == 0 || refs[i].topic != refs[i - 1].topic;
	elog_wire_put_u32(w, topics);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		while (j < n && refs[j].topic == refs[i].topic)
			j++;
		elog_wire_put_cstring(w, refs[i].topic);
		elog_wire_put_u32(w, j - i);
		for (; i < j; i++)
			elog_wire_put_u32(w, refs[i].partition);
	}
}

void elog_broker_group_heartbeat(struct elog_conn *c, const struct elog_frame_header *rq,
				 struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct heartbeat h;
	struct group_table *tb;
	struct group_state *g;
	struct member *m = NULL;
	struct elog_wire_w w;
	struct elog_err err;
	char msg[BROKER_MSG_MAX], v[ELOG_LOG_VALUE_MAX];
	int64_t now = elog_loop_now_ms(&b->loop);
	uint32_t index, interval = HEARTBEAT_MS;
	int16_t code;
	int changed = 0, nomem, answer = 0, settled, joined = 0;
	enum elog_assign_strategy strategy;

	if (heartbeat_parse(r, &h) < 0)
		MALFORMED(c, rq, r);
	if (heartbeat_check(&h, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	strategy_of(h.assignor, h.alen, &strategy);
	if (!elog_group_coordinated(b, h.group, h.glen, &tb, &index, &code, msg, sizeof(msg))) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	g = state_get(b, index, tb, h.group, h.glen, h.mlen == 0, &nomem);
	if (!g && nomem) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	if (h.mlen > 0) {
		if (!g || !(m = member_find(g, h.member, h.mlen))) {
			snprintf(msg, sizeof(msg), "member %.*s is not in group '%.*s' (its session "
				 "expired, or it left): join again", (int)h.mlen, h.member,
				 (int)h.glen, h.group);
			elog_broker_reply_error(c, rq, ELOG_PE_UNKNOWN_MEMBER_ID, msg);
			return;
		}
		if (h.epoch == -1 || h.epoch == -2) {
			if (h.epoch == -2 && m->instance) {
				/* A static member away for a restart: its target waits for it
				 * until its session ends. */
				m->left = 1;
				m->owned_count = 0;
				m->unheard = 0;
			} else {
				elog_broker_logf(b, ELOG_LOG_INFO, "group member left",
						 "group=%s member=%s",
						 elog_logfmt_value(v, sizeof(v), g->name), m->id);
				member_remove(g, m);
				m = NULL;
				changed = 1;
			}
		} else if (m->loaded ? h.epoch > m->epoch : h.epoch != m->told) {
			snprintf(msg, sizeof(msg), "member %s: epoch %" PRId32 " is not its current %"
				 PRId32 ": join again", m->id, h.epoch, m->loaded ? m->epoch : m->told);
			elog_broker_reply_error(c, rq, ELOG_PE_FENCED_MEMBER_EPOCH, msg);
			return;
		}
	} else {
		struct member *same = NULL;
		if (h.ilen)
			for (uint32_t i = 0; i < g->member_count && !same; i++)
				if (g->members[i].instance && strlen(g->members[i].instance) == h.ilen &&
				    memcmp(g->members[i].instance, h.instance, h.ilen) == 0)
					same = &g->members[i];
		if (!same && g->member_count >= GROUP_MEMBERS_MAX) {
			snprintf(msg, sizeof(msg), "group '%.*s' has its limit of %d members",
				 (int)h.glen, h.group, GROUP_MEMBERS_MAX);
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, msg);
			return;
		}
		if (!same && members_total(b->groups) >= MEMBERS_MAX) {
			snprintf(msg, sizeof(msg), "the broker coordinates its limit of %d members",
				 MEMBERS_MAX);
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, msg);
			return;
		}
		joined = !same;
		if (g->member_count == 0 || (same && g->member_count == 1))
			g->strategy = strategy;
		else if (h.alen && strategy != g->strategy) {
			snprintf(msg, sizeof(msg), "group '%.*s' uses the %s assignor", (int)h.glen,
				 h.group, elog_assign_strategy_name(g->strategy));
			elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
			return;
		}
		if (same) {
			/* The static member back (or a second copy of it: the first is
			 * fenced): its place and target, under a new id. */
			m = same;
			m->left = 0;
			m->owned_count = 0;
			m->epoch = 0;      /* the record says the new id: a new epoch */
		} else if (!(m = member_add(g)) || (h.ilen && !(m->instance = text_dup(h.instance,
											   h.ilen)))) {
			if (m)
				member_remove(g, m);
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
			return;
		}
		member_id_new(m->id);
		free(m->client);
		m->client = text_dup(h.client, h.clen);
		m->told = 0;
		m->loaded = 0;
		changed = 1;
		elog_broker_logf(b, ELOG_LOG_INFO, "group member joined",
				 "group=%s member=%s static=%s",
				 elog_logfmt_value(v, sizeof(v), g->name), m->id,
				 m->instance ? "yes" : "no");
	}
	if (m && !m->left) {
		int sub = subscription_set(g, m, &h);
		if (sub < 0 || owned_set(b, g, m, &h) < 0) {
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT,
						"out of memory, or too many topic names in the group");
			return;
		}
		changed |= sub;
		m->session_ms = h.session_ms;
		m->deadline_ms = now + h.session_ms;
		answer = 1;
	}
	if ((changed || counts_moved(b, g)) && recompute(b, g, &err) < 0) {
		/* A join the group cannot take is undone and refused, not left to
		 * wedge it; another change is tried again by the timer (backing
		 * off), the members keeping their targets meanwhile. */
		if (joined) {
			member_remove(g, m);
			elog_broker_reply_error(c, rq, err.code == ELOG_E_INVAL ? ELOG_PE_INVALID_REQUEST
									       : ELOG_PE_RESOURCE_LIMIT,
						err.msg);
			return;
		}
		reassign_failed(b, g, now, &err);
	} else if (!changed && g->written < g->epoch) {
		record_write(b, g);
	}
	/* Nothing new is told before the record saying it is committed, nor
	 * while a member a new coordinator loaded has not said what it owns. */
	settled = 0;
	if (answer && g->durable >= g->epoch && !group_unheard(g)) {
		if ((settled = hand_over(g, m, &err)) < 0) {
			elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, err.msg);
			return;
		}
		if (!settled)
			interval = HEARTBEAT_SOON_MS;
	}
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	if (!answer) {
		/* Left: nothing more to say. */
		elog_wire_put_cstring(&w, "");
		elog_wire_put_i32(&w, h.epoch);
		elog_wire_put_u32(&w, 0);
		elog_wire_put_u8(&w, 0);
		elog_broker_finish(c, &w);
		return;
	}
	if (g->durable < g->epoch || group_unheard(g)) {
		elog_wire_put_cstring(&w, m->id);
		elog_wire_put_i32(&w, m->told);
		elog_wire_put_u32(&w, g->durable < g->epoch ? HEARTBEAT_SOON_MS : UNHEARD_HEARTBEAT_MS);
		elog_wire_put_u8(&w, 0);
		elog_broker_finish(c, &w);
		return;
	}
	elog_wire_put_cstring(&w, m->id);
	elog_wire_put_i32(&w, m->told);
	elog_wire_put_u32(&w, interval);
	elog_wire_put_u8(&w, 1);
	put_refs(&w, m->given, m->given_count);
	elog_wire_put_u32(&w, m->waiting);
	elog_broker_finish(c, &w);
}

/* ---------------------------------------------------------------- DESCRIBE_GROUP */

/* Every member owns exactly its target. */
static int group_stable(const struct group_state *g)
{
	for (uint32_t i = 0; i < g->member_count; i++) {
		const struct member *m = &g->members[i];
		if (m->owned_count != m->target_count)
			return 0;
		for (uint32_t k = 0; k < m->target_count; k++)
			if (!refs_find(m->owned, m->owned_count, m->target[k].topic,
				       m->target[k].partition))
				return 0;
	}
	return 1;
}

void elog_broker_describe_group(struct elog_conn *c, const struct elog_frame_header *rq,
				struct elog_wire_r *r)
{
	struct elog_broker *b = c->broker;
	struct group_table *tb;
	struct group_state *g;
	struct elog_wire_w w;
	char msg[BROKER_MSG_MAX];
	const char *group, *state;
	size_t glen;
	uint32_t index;
	int16_t code;
	int nomem;
	size_t start;
	int64_t now = elog_loop_now_ms(&b->loop);

	elog_wire_r_field(r, "group");
	elog_wire_get_string(r, &group, &glen);
	if (elog_wire_r_end(r, NULL) < 0)
		MALFORMED(c, rq, r);
	if (elog_group_name_check(group, glen, msg, sizeof(msg)) < 0) {
		elog_broker_reply_error(c, rq, ELOG_PE_INVALID_REQUEST, msg);
		return;
	}
	if (!elog_group_coordinated(b, group, glen, &tb, &index, &code, msg, sizeof(msg))) {
		elog_broker_reply_error(c, rq, code, msg);
		return;
	}
	g = state_get(b, index, tb, group, glen, 0, &nomem);
	if (!g && nomem) {
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	if (!g || g->member_count == 0)
		state = "empty";
	else if (g->durable < g->epoch)
		state = "assigning";
	else
		state = group_stable(g) ? "stable" : "reconciling";
	start = c->out.len;
	elog_wire_w_init(&w, &c->out);
	elog_wire_response_begin(&w, rq, ELOG_PE_NONE, NULL);
	elog_wire_put_cstring(&w, state);
	elog_wire_put_i32(&w, g ? g->epoch : 0);
	elog_wire_put_cstring(&w, elog_assign_strategy_name(g ? g->strategy : ELOG_ASSIGN_STICKY));
	elog_wire_put_u32(&w, g ? g->member_count : 0);
	for (uint32_t i = 0; g && i < g->member_count; i++) {
		const struct member *m = &g->members[i];
		int64_t heard = m->deadline_ms - m->session_ms;
		elog_wire_put_cstring(&w, m->id);
		elog_wire_put_cstring(&w, m->instance ? m->instance : "");
		elog_wire_put_cstring(&w, m->client ? m->client : "");
		elog_wire_put_i32(&w, m->told);
		elog_wire_put_u32(&w, m->session_ms);
		elog_wire_put_i64(&w, m->loaded ? -1 : now - heard);
		put_refs(&w, m->target, m->target_count);
		put_refs(&w, m->owned, m->owned_count);
	}
	if (elog_group_put_offsets(b, &w, tb, group, glen) < 0) {
		c->out.len = start;   /* drop the answer begun */
		elog_broker_reply_error(c, rq, ELOG_PE_RESOURCE_LIMIT, "out of memory");
		return;
	}
	elog_broker_finish(c, &w);
}

int elog_member_group_active(struct elog_broker *b, uint32_t index, const struct group_table *tb,
			     const char *group, size_t glen, char *msg, size_t cap)
{
	struct group_state *g;
	int16_t code;

	return elog_member_commit_check(b, index, tb, group, glen, "", 0, -1, &g, &code, msg,
					cap) < 0;
}

/* ---------------------------------------------------------------- fuzzing */

int elog_member_record_roundtrip(const uint8_t *v, size_t len, int *same)
{
	struct group_state *g = record_decode(v, len, 0);
	struct elog_buf out;
	int rc = 0;

	*same = 0;
	if (!g)
		return -1;
	elog_buf_init(&out, 64u << 20);
	if (record_encode(g, &out, NULL) < 0)
		rc = -2;
	else
		*same = out.len == len && memcmp(out.data, v, len) == 0;
	elog_buf_release(&out);
	state_free(g);
	return rc;
}
