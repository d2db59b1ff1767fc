/*
 * processor — see processor.h and docs/processing.md.
 *
 * A record taken is a `prec`, queued in its partition's order (`ppart`).
 * Its life: WAITING (to start now, or at next_ms: a backoff or a retry
 * tier's not-before), RUNNING (the runner has it), SENDING (produced to a
 * retry or dead-letter topic, not yet acknowledged), PARKED (a hand-on that
 * failed or was not acknowledged: sent again every RESEND_MS), DONE. A partition's position is
 * its oldest record not DONE; DONE records at the head are freed.
 *
 * Order: records of one key in one partition are chained; only the oldest
 * of a chain not DONE may start. Startable records wait in `ready` (due
 * now) or `delayed` (due later); a record is in at most one of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy.h"
#include "dlq.h"
#include "envelope.h"
#include "json.h"
#include "processor.h"

enum { P_WAITING, P_RUNNING, P_PARKED, P_SENDING, P_DONE };

#define RESEND_MS 200

struct ppart;

struct prec {
	struct ppart *part;              /* NULL: its partition was dropped */
	struct prec *next;               /* in its partition's queue */
	struct prec *key_next;           /* the next record of its key */
	struct pkey *key_entry;          /* NULL: a null key */
	struct prec *list_next;          /* ready or delayed */
	int in_list;
	int state;
	int64_t next_ms;                 /* WAITING: not before (wall ms); 0: now */
	int64_t offset, timestamp;
	uint8_t *key, *value;
	int32_t key_len, value_len;
	struct elog_header *headers;
	uint32_t header_count;
	int tier;                        /* -1: the main topic; k: retry tier k */
	int probe;                       /* the breaker's half-open try */
	int tier_wait;                   /* next_ms is a retry tier's not-before */
	int failing;                     /* failed since it was taken */
	uint64_t success_mark;           /* successes (of any record) at its first failure */
	uint32_t attempts;               /* every try, all tiers (from elog.attempts) */
	uint32_t tries_here;             /* failed tries in place, this tier */
	int64_t first_failure, last_failure;
	char *origin_topic;              /* elog.topic (NULL: the part's main topic) */
	int64_t origin_partition, origin_offset, origin_ts;
	char *verdict;                   /* the last failure's, for elog.verdict */
	char *stderr_tail;
	size_t stderr_len;
	int permanent;
	uint32_t hand_on_failed;         /* sends that failed in a row (said once) */
};

struct pkey {
	struct pkey *next;               /* hash chain */
	uint64_t hash;
	struct prec *head, *tail;        /* records of the key not DONE, in order */
	int32_t len;
	uint8_t bytes[];
};

struct ppart {
	char *topic;
	uint32_t partition;
	uint32_t main;                   /* index into mains */
	int tier;
	struct prec *head, *tail;
	int64_t next_offset;             /* after the last record taken; -1 none */
	struct pkey **keys;
	uint32_t key_buckets, key_count;
};

struct pmain {
	char *name, *dlq;
	char *tiers[ELOG_PROCESSOR_TIERS_MAX];
	uint32_t partitions;
	uint16_t replication;
};

struct pdest {
	char *topic;
	struct elog_producer *producer;
};

struct elog_processor {
	struct elog_processor_config cfg;
	struct elog_client *client;
	struct elog_runner *runner;
	struct pmain *mains;
	uint32_t main_count;
	const char **subscription;
	size_t subscription_count;
	struct ppart **parts;
	uint32_t part_count;
	struct pdest *dests;
	uint32_t dest_count;
	struct prec *ready_head, *ready_tail, *delayed;
	int64_t delayed_min;             /* earliest next_ms in delayed; INT64_MAX none */
	struct prec **acked;             /* delivery reports, handled after the poll */
	uint32_t acked_count, acked_cap;
	uint32_t queued, running, sending, parked;
	int stopped;
	uint32_t start_failing;          /* starts failed in a row (said once) */
	int64_t resent_ms;               /* the last resend of parked hand-ons */
	struct ppart *last_part;         /* the last record's partition */
	/* breaker */
	int breaker;                     /* 0 closed, 1 open, 2 half-open */
	uint32_t streak, cooldowns;
	int64_t cool_until;
	struct prec *probe_rec, *opener;
	uint64_t success_seq;            /* records that succeeded */
	struct elog_processor_stats st;
	struct elog_buf line;            /* a co-process line, an env block */
	struct elog_err fatal;
	int has_fatal;
};

static const char *const own_headers[] = {
	"elog.topic", "elog.partition", "elog.offset", "elog.timestamp", "elog.group",
	"elog.attempts", "elog.first_failure", "elog.last_failure", "elog.verdict",
	"elog.stderr", "elog.host", "elog.not_before", "elog.tier",
};
#define OWN_HEADERS (sizeof(own_headers) / sizeof(own_headers[0]))

static void say(struct elog_processor *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct elog_processor *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!p->cfg.say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->cfg.say(p->cfg.say_ctx, line);
}

void elog_processor_config_init(struct elog_processor_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	elog_runner_config_init(&cfg->runner);
	cfg->retries = 3;
	cfg->backoff_min_ms = 200;
	cfg->backoff_max_ms = 30000;
}

/* ---------------------------------------------------------------- topics */

static char *name_join(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

struct elog_processor *elog_processor_new(struct elog_client *c,
					  const struct elog_processor_config *cfg,
					  const char *const *topics, size_t topic_count,
					  struct elog_err *err)
{
	struct elog_processor *p;

	if (topic_count == 0 || topic_count > ELOG_PROCESSOR_TOPICS_MAX) {
		elog_err_set(err, ELOG_E_LIMIT, "processing: 1 to %d topics", ELOG_PROCESSOR_TOPICS_MAX);
		return NULL;
	}
	if (cfg->tier_count > ELOG_PROCESSOR_TIERS_MAX) {
		elog_err_set(err, ELOG_E_LIMIT, "at most %d retry topics", ELOG_PROCESSOR_TIERS_MAX);
		return NULL;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	p->client = c;
	p->delayed_min = INT64_MAX;
	if (!p->cfg.queue_max)
		p->cfg.queue_max = 4 * (cfg->runner.slots ? cfg->runner.slots : 1) + 64;
	elog_buf_init(&p->line, (size_t)ELOG_BATCH_SIZE_MAX * 6 + (1u << 20));
	p->mains = calloc(topic_count, sizeof(*p->mains));
	p->subscription = calloc(topic_count * (1 + cfg->tier_count), sizeof(*p->subscription));
	if (!p->mains || !p->subscription)
		goto nomem;
	p->main_count = (uint32_t)topic_count;
	for (size_t i = 0; i < topic_count; i++) {
		struct pmain *m = &p->mains[i];
		if (!(m->name = strdup(topics[i])) ||
		    !(m->dlq = cfg->dlq_topic ? strdup(cfg->dlq_topic) : name_join(topics[i], ".dlq", "")))
			goto nomem;
		p->subscription[p->subscription_count++] = m->name;
	}
	for (size_t i = 0; i < topic_count; i++) {
		struct pmain *m = &p->mains[i];
		for (uint32_t k = 0; k < cfg->tier_count; k++) {
			if (!(m->tiers[k] = name_join(topics[i], ".retry.", cfg->tier_name[k])))
				goto nomem;
			p->subscription[p->subscription_count++] = m->tiers[k];
		}
	}
	if (!(p->runner = elog_runner_new(&cfg->runner, err)))
		goto fail;
	return p;
nomem:
	elog_err_set(err, ELOG_E_NOMEM, "out of memory");
fail:
	elog_processor_free(p);
	return NULL;
}

const char *const *elog_processor_subscription(const struct elog_processor *p, size_t *count)
{
	*count = p->subscription_count;
	return p->subscription;
}

/* The retry and dead-letter topics, created when missing, like their main topic. */
int elog_processor_prepare(struct elog_processor *p, struct elog_err *err)
{
	const struct elog_metadata *md;

	for (uint32_t i = 0; i < p->main_count; i++) {
		struct pmain *m = &p->mains[i];
		const char *name = m->name;
		const struct elog_meta_topic *t;
		if (!(md = elog_client_metadata(p->client, &name, 1, err)))
			return -1;
		t = elog_metadata_topic(md, name);
		if (!t || t->error || t->partition_count == 0)
			return elog_err_set(err, ELOG_E_INVAL, "topic '%s': %s", name,
					    elog_proto_error_text(t && t->error ? t->error
									: ELOG_PE_UNKNOWN_TOPIC));
		m->partitions = t->partition_count;
		m->replication = (uint16_t)(t->partitions[0].replica_count ? t->partitions[0].replica_count : 1);
	}
	for (uint32_t i = 0; i < p->main_count; i++) {
		struct pmain *m = &p->mains[i];
		for (int k = -1; k < (int)p->cfg.tier_count; k++) {
			const char *name = k < 0 ? m->dlq : m->tiers[k];
			const struct elog_meta_topic *t;
			if (!(md = elog_client_metadata(p->client, &name, 1, err)))
				return -1;
			t = elog_metadata_topic(md, name);
			if (t && !t->error)
				continue;
			if (elog_admin_create_topic(p->client, name, m->partitions, m->replication,
						    NULL, 0, err) < 0 &&
			    elog_client_proto_error(p->client) != ELOG_PE_TOPIC_EXISTS)
				return -1;
		}
	}
	return 0;
}

/* Which main topic and tier a fetched topic is; -1 when none. */
static int topic_role(const struct elog_processor *p, const char *topic, int *tier)
{
	for (uint32_t i = 0; i < p->main_count; i++) {
		const struct pmain *m = &p->mains[i];
		if (strcmp(m->name, topic) == 0) {
			*tier = -1;
			return (int)i;
		}
		for (uint32_t k = 0; k < p->cfg.tier_count; k++)
			if (strcmp(m->tiers[k], topic) == 0) {
				*tier = (int)k;
				return (int)i;
			}
	}
	return -1;
}

/* ---------------------------------------------------------------- parts and keys */

static struct ppart *part_find(const struct elog_processor *p, const char *topic, uint32_t partition)
{
	for (uint32_t i = 0; i < p->part_count; i++)
		if (p->parts[i]->partition == partition && strcmp(p->parts[i]->topic, topic) == 0)
			return p->parts[i];
	return NULL;
}

static uint64_t key_hash(const uint8_t *b, int32_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (int32_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static int keys_grow(struct ppart *pp)
{
	uint32_t n = pp->key_buckets ? pp->key_buckets * 2 : 64;
	struct pkey **b = calloc(n, sizeof(*b));

	if (!b)
		return -1;
	for (uint32_t i = 0; i < pp->key_buckets; i++)
		for (struct pkey *k = pp->keys[i], *next; k; k = next) {
			next = k->next;
			k->next = b[k->hash & (n - 1)];
			b[k->hash & (n - 1)] = k;
		}
	free(pp->keys);
	pp->keys = b;
	pp->key_buckets = n;
	return 0;
}

static struct pkey *key_get(struct ppart *pp, const uint8_t *bytes, int32_t len)
{
	uint64_t h = key_hash(bytes, len);
	struct pkey *k;

	if (pp->key_buckets)
		for (k = pp->keys[h & (pp->key_buckets - 1)]; k; k = k->next)
			if (k->hash == h && k->len == len && (!len || memcmp(k->bytes, bytes, (size_t)len) == 0))
				return k;
	if ((pp->key_count + 1 > pp->key_buckets) && keys_grow(pp) < 0)
		return NULL;
	if (!(k = calloc(1, sizeof(*k) + (size_t)len)))
		return NULL;
	k->hash = h;
	k->len = len;
	if (len)
		memcpy(k->bytes, bytes, (size_t)len);
	k->next = pp->keys[h & (pp->key_buckets - 1)];
	pp->keys[h & (pp->key_buckets - 1)] = k;
	pp->key_count++;
	return k;
}

static void key_forget(struct ppart *pp, struct pkey *k)
{
	struct pkey **at = &pp->keys[k->hash & (pp->key_buckets - 1)];

	while (*at != k)
		at = &(*at)->next;
	*at = k->next;
	pp->key_count--;
	free(k);
}

/* ---------------------------------------------------------------- lists */

static void ready_push(struct elog_processor *p, struct prec *r)
{
	int64_t now;

	if (r->in_list || r->state != P_WAITING || !r->part)
		return;
	r->in_list = 1;
	r->list_next = NULL;
	now = r->next_ms ? elog_wall_ms() : 0;
	if (r->next_ms > now) {
		r->list_next = p->delayed;
		p->delayed = r;
		if (r->next_ms < p->delayed_min)
			p->delayed_min = r->next_ms;
		return;
	}
	if (p->ready_tail)
		p->ready_tail->list_next = r;
	else
		p->ready_head = r;
	p->ready_tail = r;
}

static void rec_free(struct prec *r)
{
	free(r->verdict);
	free(r->origin_topic);
	free(r->stderr_tail);
	free(r);
}

/* The failure's one line for elog.verdict (left as it was when out of memory). */
static void set_verdict(struct prec *r, const char *prefix, const char *text)
{
	size_t n = strlen(prefix) + strlen(text) + 1;
	char *v = malloc(n);

	if (!v)
		return;
	snprintf(v, n, "%s%s", prefix, text);
	free(r->verdict);
	r->verdict = v;
}

/* A record may be freed only when no list, runner or producer holds it. */
static void rec_release_if_orphan(struct elog_processor *p, struct prec *r)
{
	(void)p;
	if (!r->part && !r->in_list && r->state != P_RUNNING && r->state != P_SENDING)
		rec_free(r);
}

/* Move what became due from delayed to ready. */
static void delayed_sweep(struct elog_processor *p, int64_t now)
{
	struct prec **at = &p->delayed;

	if (now < p->delayed_min)
		return;
	p->delayed_min = INT64_MAX;
	while (*at) {
		struct prec *r = *at;
		if (!r->part || r->state != P_WAITING) {
			*at = r->list_next;
			r->in_list = 0;
			rec_release_if_orphan(p, r);
			continue;
		}
		if (r->next_ms <= now) {
			*at = r->list_next;
			r->in_list = 0;
			r->next_ms = 0;
			r->tier_wait = 0;
			ready_push(p, r);
			continue;
		}
		if (r->next_ms < p->delayed_min)
			p->delayed_min = r->next_ms;
		at = &r->list_next;
	}
}

static struct prec *ready_pop(struct elog_processor *p)
{
	struct prec *r = p->ready_head;

	if (!r)
		return NULL;
	p->ready_head = r->list_next;
	if (!p->ready_head)
		p->ready_tail = NULL;
	r->in_list = 0;
	return r;
}

/* The half-open try: a record other than the one that opened the breaker
 * when one is ready (its success tells the dependency is back even if that
 * record is bad), else that one. */
static struct prec *ready_pop_probe(struct elog_processor *p)
{
	struct prec *prev = NULL, *r;

	for (r = p->ready_head; r && (r == p->opener || !r->part); prev = r, r = r->list_next)
		;
	if (!r)
		return ready_pop(p);
	if (prev)
		prev->list_next = r->list_next;
	else
		p->ready_head = r->list_next;
	if (p->ready_tail == r)
		p->ready_tail = prev;
	r->in_list = 0;
	return r;
}

/* ---------------------------------------------------------------- taking records */

int elog_processor_room(const struct elog_processor *p)
{
	return !p->stopped && p->queued < p->cfg.queue_max;
}

static int header_is(const struct elog_header *h, const char *name)
{
	size_t n = strlen(name);

	return h->name_len == n && memcmp(h->name, name, n) == 0;
}

static struct ppart *part_add(struct elog_processor *p, const char *topic, uint32_t partition,
			      uint32_t main, int tier)
{
	struct ppart **grown, *pp;

	if (!(grown = realloc(p->parts, (p->part_count + 1) * sizeof(*grown))))
		return NULL;
	p->parts = grown;
	if (!(pp = calloc(1, sizeof(*pp))) || !(pp->topic = strdup(topic))) {
		free(pp);
		return NULL;
	}
	pp->partition = partition;
	pp->main = main;
	pp->tier = tier;
	pp->next_offset = -1;
	p->parts[p->part_count++] = pp;
	return pp;
}

int64_t elog_processor_add(struct elog_processor *p, const struct elog_fetched *rec,
			   struct elog_err *err)
{
	const struct elog_record_view *v = rec->record;
	struct ppart *pp = p->last_part && p->last_part->partition == rec->partition &&
				   strcmp(p->last_part->topic, rec->topic) == 0
			   ? p->last_part : part_find(p, rec->topic, rec->partition);
	size_t size = sizeof(struct prec) + v->header_count * sizeof(struct elog_header);
	struct prec *r;
	uint8_t *at;
	int tier, main;

	if (!pp) {
		if ((main = topic_role(p, rec->topic, &tier)) < 0)
			return elog_err_set(err, ELOG_E_INVAL, "'%s' is not a topic this member "
					    "processes", rec->topic);
		if (!(pp = part_add(p, rec->topic, rec->partition, (uint32_t)main, tier)))
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	}
	p->last_part = pp;
	size += (size_t)(v->key_len > 0 ? v->key_len : 0) + (size_t)(v->value_len > 0 ? v->value_len : 0);
	for (uint32_t i = 0; i < v->header_count; i++)
		size += v->headers[i].name_len + (size_t)(v->headers[i].value_len > 0
							  ? v->headers[i].value_len : 0);
	if (!(r = calloc(1, size)))
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	at = (uint8_t *)(r + 1);
	r->headers = (struct elog_header *)at;
	at += v->header_count * sizeof(struct elog_header);
	r->header_count = v->header_count;
	for (uint32_t i = 0; i < v->header_count; i++) {
		const struct elog_header *h = &v->headers[i];
		r->headers[i] = *h;
		r->headers[i].name = at;
		memcpy(at, h->name, h->name_len);
		at += h->name_len;
		if (h->value_len > 0) {
			r->headers[i].value = at;
			memcpy(at, h->value, (size_t)h->value_len);
			at += h->value_len;
		} else {
			r->headers[i].value = h->value_len == 0 ? at : NULL;
		}
	}
	r->key_len = v->key_len;
	if (v->key_len >= 0) {
		r->key = at;
		memcpy(at, v->key, (size_t)v->key_len);
		at += v->key_len;
	}
	r->value_len = v->value_len;
	if (v->value_len >= 0) {
		r->value = at;
		if (v->value_len)
			memcpy(at, v->value, (size_t)v->value_len);
	}
	r->part = pp;
	r->offset = v->offset;
	r->timestamp = v->timestamp_ms;
	r->tier = pp->tier;
	r->origin_partition = rec->partition;
	r->origin_offset = v->offset;
	r->origin_ts = v->timestamp_ms;
	if (pp->tier >= 0) {
		/* A retry tier's copy: its story so far from its headers, read
		 * as elog-dlq reads them (a value that is not one is absent). */
		struct elog_dead_letter dl;
		char origin[ELOG_TOPIC_NAME_MAX + 1];
		elog_dead_letter_read(v, &dl);
		if (elog_dead_letter_topic(&dl, origin, sizeof(origin)) == 1 &&
		    !(r->origin_topic = strdup(origin))) {
			free(r);
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		}
		if (dl.partition >= 0)
			r->origin_partition = dl.partition;
		if (dl.offset >= 0)
			r->origin_offset = dl.offset;
		if (dl.timestamp_ms != ELOG_DLQ_NO_TIME)
			r->origin_ts = dl.timestamp_ms;
		if (dl.attempts >= 0 && dl.attempts < UINT32_MAX / 2)
			r->attempts = (uint32_t)dl.attempts;
		if (dl.first_failure_ms > 0)
			r->first_failure = dl.first_failure_ms;
		r->next_ms = dl.not_before_ms != ELOG_DLQ_NO_TIME ? dl.not_before_ms : 0;
		/* A copy is due within its tier's delay from now at the latest
		 * (it was written at a failure): a later time is not believed,
		 * so one bad header cannot hold the tier for ever. */
		{
			int64_t latest = elog_wall_ms() + p->cfg.tier_ms[pp->tier];
			if (r->next_ms > latest)
				r->next_ms = latest;
			if (r->next_ms < 0)
				r->next_ms = 0;
		}
		r->tier_wait = r->next_ms > 0;
	}
	/* One at a time (--concurrency 1): the partition's records are one
	 * chain, so a record waiting for a retry holds its partition. */
	if (r->key_len >= 0 || p->cfg.runner.slots <= 1) {
		if (!(r->key_entry = p->cfg.runner.slots <= 1 ? key_get(pp, NULL, 0)
							      : key_get(pp, r->key, r->key_len))) {
			rec_free(r);
			return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		}
		if (r->key_entry->tail)
			r->key_entry->tail->key_next = r;
		else
			r->key_entry->head = r;
		r->key_entry->tail = r;
	}
	if (pp->tail)
		pp->tail->next = r;
	else
		pp->head = r;
	pp->tail = r;
	pp->next_offset = r->offset + 1;
	p->queued++;
	r->state = P_WAITING;
	if (!r->key_entry || r->key_entry->head == r)
		ready_push(p, r);
	return r->next_ms > elog_wall_ms() ? r->next_ms : 0;
}

/* ---------------------------------------------------------------- starting */

static void env_add(struct elog_buf *b, size_t *offs, size_t *n, const char *name,
		    const uint8_t *value, size_t len)
{
	/* What the environment cannot hold is left out (the record has it). */
	if (*n >= ELOG_RUNNER_ENV_MAX || strlen(name) + len + 2 > ELOG_RUNNER_ENV_ENTRY_MAX ||
	    b->len + strlen(name) + len + 2 > ELOG_RUNNER_ENV_BYTES_MAX)
		return;
	offs[(*n)++] = b->len;
	elog_buf_add(b, name, strlen(name), NULL);
	elog_buf_add(b, "=", 1, NULL);
	elog_buf_add(b, value, len, NULL);
	elog_buf_add(b, "", 1, NULL);
}

static void env_addf(struct elog_buf *b, size_t *offs, size_t *n, const char *name,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void env_addf(struct elog_buf *b, size_t *offs, size_t *n, const char *name,
		     const char *fmt, ...)
{
	char text[64];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	env_add(b, offs, n, name, (const uint8_t *)text, (size_t)len);
}

/* Text an environment variable can hold: UTF-8 without NUL. */
static int env_text(const uint8_t *b, size_t n)
{
	return memchr(b, 0, n) == NULL && elog_json_utf8_span(b, n) == n;
}

static void record_view(const struct prec *r, struct elog_record_view *v)
{
	memset(v, 0, offsetof(struct elog_record_view, headers));
	v->offset = r->offset;
	v->timestamp_ms = r->timestamp;
	v->key = r->key;
	v->key_len = r->key_len;
	v->value = r->value;
	v->value_len = r->value_len;
	v->header_count = r->header_count;
	memcpy(v->headers, r->headers, r->header_count * sizeof(*r->headers));
}

static int start(struct elog_processor *p, struct prec *r, struct elog_err *err)
{
	struct elog_runner_job job = {.tag = (uint64_t)(uintptr_t)r};
	const struct ppart *pp = r->part;
	const char *env[ELOG_RUNNER_ENV_MAX];
	size_t offs[ELOG_RUNNER_ENV_MAX], n = 0;
	struct elog_buf *b = &p->line;
	int rc;

	elog_buf_reset(b);
	uint32_t attempt = r->attempts + 1;   /* counted once it started */
	if (p->cfg.runner.mode == ELOG_RUNNER_COPROC) {
		static struct elog_record_view v;
		char tail[32];
		record_view(r, &v);
		if (elog_envelope_encode(b, pp->topic, strlen(pp->topic), pp->partition, &v, err) < 0)
			return -1;
		/* "...}\n" becomes "...,"attempt":N}\n". */
		b->len -= 2;
		snprintf(tail, sizeof(tail), ",\"attempt\":%" PRIu32 "}\n", attempt);
		if (elog_buf_add(b, tail, strlen(tail), err) < 0)
			return -1;
		job.input = b->data;
		job.input_len = b->len;
	} else {
		env_add(b, offs, &n, "ELOG_TOPIC", (const uint8_t *)pp->topic, strlen(pp->topic));
		env_addf(b, offs, &n, "ELOG_PARTITION", "%" PRIu32, pp->partition);
		env_addf(b, offs, &n, "ELOG_OFFSET", "%" PRId64, r->offset);
		env_addf(b, offs, &n, "ELOG_TIMESTAMP", "%" PRId64, r->timestamp);
		env_addf(b, offs, &n, "ELOG_ATTEMPT", "%" PRIu32, attempt);
		env_add(b, offs, &n, "ELOG_GROUP", (const uint8_t *)p->cfg.group, strlen(p->cfg.group));
		if (r->key_len >= 0 && env_text(r->key, (size_t)r->key_len)) {
			env_add(b, offs, &n, "ELOG_KEY", r->key, (size_t)r->key_len);
		} else if (r->key_len >= 0) {
			size_t len = elog_json_base64_encoded_len((size_t)r->key_len);
			char *text = malloc(len + 1);
			if (!text)
				return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
			elog_json_base64_encode(r->key, (size_t)r->key_len, text);
			env_add(b, offs, &n, "ELOG_KEY_BASE64", (const uint8_t *)text, len);
			free(text);
		}
		for (uint32_t i = 0; i < r->header_count; i++) {
			const struct elog_header *h = &r->headers[i];
			char name[12 + 256];
			size_t k = 0;
			if (h->value_len < 0 || !env_text(h->value, (size_t)h->value_len) ||
			    h->name_len > 255)
				continue;
			k = (size_t)snprintf(name, sizeof(name), "ELOG_HEADER_");
			for (uint32_t j = 0; j < h->name_len; j++) {
				char ch = (char)h->name[j];
				if (ch >= 'a' && ch <= 'z')
					ch = (char)(ch - 'a' + 'A');
				else if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
					ch = '_';
				name[k++] = ch;
			}
			name[k] = 0;
			env_add(b, offs, &n, name, h->value, (size_t)h->value_len);
		}
		for (size_t i = 0; i < n; i++)
			env[i] = (const char *)b->data + offs[i];
		job.env = env;
		job.env_count = n;
		job.input = r->value;
		job.input_len = r->value_len > 0 ? (size_t)r->value_len : 0;
	}
	rc = elog_runner_start(p->runner, &job, err);
	if (rc < 0)
		return -1;
	r->attempts = attempt;
	r->state = P_RUNNING;
	p->running++;
	return 0;
}

static void hand_on_or_later(struct elog_processor *p, struct prec *r);

/* Start what may start: the breaker's probe alone while it is not closed. */
static void start_ready(struct elog_processor *p, int64_t now)
{
	struct elog_err err;

	if (p->stopped)
		return;
	if (p->breaker == 1) {
		if (now < p->cool_until || p->running)
			return;
		p->breaker = 2;
		say(p, "breaker half-open: trying one record");
	}
	while (elog_runner_free_slots(p->runner) > 0) {
		struct prec *r;
		if (p->breaker == 2 && (p->probe_rec || p->running))
			return;
		if (!(r = p->breaker == 2 ? ready_pop_probe(p) : ready_pop(p)))
			return;
		if (!r->part || r->state != P_WAITING) {
			rec_release_if_orphan(p, r);
			continue;
		}
		if (start(p, r, &err) < 0 && err.code == ELOG_E_LIMIT) {
			/* The record cannot be given to the command (its line
			 * or input past the runner's bounds): a permanent
			 * failure, never a loop. */
			set_verdict(r, "cannot run: ", err.msg);
			r->first_failure = r->first_failure ? r->first_failure : now;
			r->last_failure = now;
			r->permanent = 1;
			hand_on_or_later(p, r);
			continue;
		}
		if (r->state == P_WAITING) {
			/* A fork or pipe failing: later. */
			r->next_ms = now + 100;
			ready_push(p, r);
			if (!p->start_failing++)
				say(p, "cannot start the command: %s; trying again", err.msg);
			return;
		}
		if (p->start_failing) {
			say(p, "the command starts again");
			p->start_failing = 0;
		}
		if (p->breaker == 2) {
			r->probe = 1;
			p->probe_rec = r;
		}
	}
}

/* ---------------------------------------------------------------- done */

/* The record is done: the next of its key may start; the partition's
 * done head is freed. */
static void rec_done(struct elog_processor *p, struct prec *r)
{
	struct ppart *pp = r->part;

	r->state = P_DONE;
	if (p->opener == r)
		p->opener = NULL;
	if (!pp) {
		rec_release_if_orphan(p, r);
		return;
	}
	if (r->key_entry) {
		struct pkey *k = r->key_entry;
		/* r is the key's head: only the head runs. */
		k->head = r->key_next;
		if (!k->head) {
			k->tail = NULL;
			key_forget(pp, k);
		} else {
			ready_push(p, k->head);
		}
		r->key_entry = NULL;
	}
	while (pp->head && pp->head->state == P_DONE && !pp->head->in_list) {
		struct prec *h = pp->head;
		pp->head = h->next;
		if (!pp->head)
			pp->tail = NULL;
		p->queued--;
		rec_free(h);
	}
}

/* ---------------------------------------------------------------- handing on */

static struct elog_producer *dest_producer(struct elog_processor *p, const char *topic,
					   struct elog_err *err);

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct elog_processor *p = ctx;

	for (uint32_t i = 0; i < d->record_count; i++) {
		struct prec *r = (struct prec *)(uintptr_t)d->tags[i];
		if (p->acked_count == p->acked_cap) {
			uint32_t cap = p->acked_cap ? p->acked_cap * 2 : 64;
			struct prec **grown = realloc(p->acked, cap * sizeof(*grown));
			if (!grown)
				continue;   /* it stays SENDING: the member cannot commit past it */
			p->acked = grown;
			p->acked_cap = cap;
		}
		if (d->error) {
			/* Not acknowledged: sent again later (a refusal for good stops). */
			if (d->error > 0 && !p->has_fatal) {
				p->has_fatal = 1;
				elog_err_set(&p->fatal, ELOG_E_IO, "%s", d->message);
			}
			r->next_ms = -1;
		} else {
			r->next_ms = 0;
		}
		p->acked[p->acked_count++] = r;
	}
}

static struct elog_producer *dest_producer(struct elog_processor *p, const char *topic,
					   struct elog_err *err)
{
	struct elog_producer_config pc;
	struct pdest *grown;

	for (uint32_t i = 0; i < p->dest_count; i++)
		if (strcmp(p->dests[i].topic, topic) == 0)
			return p->dests[i].producer;
	if (!(grown = realloc(p->dests, (p->dest_count + 1) * sizeof(*grown)))) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		return NULL;
	}
	p->dests = grown;
	/* acks=all, idempotent, room for any record a source may hold. */
	elog_copy_producer_config(&pc, 120000);
	pc.linger_ms = 1;
	pc.on_delivery = on_delivery;
	pc.ctx = p;
	grown[p->dest_count].topic = strdup(topic);
	if (!grown[p->dest_count].topic) {
		elog_err_set(err, ELOG_E_NOMEM, "out of memory");
		return NULL;
	}
	if (!(grown[p->dest_count].producer = elog_producer_new(p->client, topic, &pc, err))) {
		free(grown[p->dest_count].topic);
		return NULL;
	}
	return grown[p->dest_count++].producer;
}

static int own_header(const struct elog_header *h)
{
	for (size_t i = 0; i < OWN_HEADERS; i++)
		if (header_is(h, own_headers[i]))
			return 1;
	return 0;
}

/* Produce r to its next tier or the dead-letter topic. 0, or -1 (later). */
static int hand_on(struct elog_processor *p, struct prec *r, struct elog_err *err)
{
	const struct ppart *pp = r->part;
	const struct pmain *m = &p->mains[pp->main];
	int next_tier = r->permanent ? -1 : r->tier + 1;
	const char *dest = next_tier >= 0 && next_tier < (int)p->cfg.tier_count
				   ? m->tiers[next_tier] : m->dlq;
	struct elog_header h[ELOG_RECORD_HEADERS_MAX];
	char num[OWN_HEADERS][32];
	uint32_t n = 0, kept = 0;
	struct elog_producer *prod;
	struct elog_record rec = {0};
	char host[256];
	int64_t now = elog_wall_ms();
	int32_t partition;
	int tiered = next_tier >= 0 && next_tier < (int)p->cfg.tier_count;

	if (!(prod = dest_producer(p, dest, err)))
		return -1;
	for (uint32_t i = 0; i < r->header_count && kept < ELOG_RECORD_HEADERS_MAX - OWN_HEADERS; i++)
		if (!own_header(&r->headers[i])) {
			h[n++] = r->headers[i];
			kept++;
		}
#define PUT(name, v, len) (h[n++] = (struct elog_header){(const uint8_t *)(name), \
		(uint32_t)strlen(name), (const uint8_t *)(v), (int32_t)(len)})
#define PUTN(i, name, fmt, x) (snprintf(num[i], sizeof(num[i]), fmt, x), PUT(name, num[i], strlen(num[i])))
	{
		const char *origin = r->origin_topic ? r->origin_topic : m->name;
		snprintf(host, sizeof(host), "%s", p->cfg.member_host ? p->cfg.member_host : "");
		PUT("elog.topic", origin, strlen(origin));
		PUTN(0, "elog.partition", "%" PRId64, r->origin_partition);
		PUTN(1, "elog.offset", "%" PRId64, r->origin_offset);
		PUTN(2, "elog.timestamp", "%" PRId64, r->origin_ts);
		PUT("elog.group", p->cfg.group, strlen(p->cfg.group));
		PUTN(3, "elog.attempts", "%" PRIu32, r->attempts);
		PUTN(4, "elog.first_failure", "%" PRId64, r->first_failure ? r->first_failure : now);
		PUTN(5, "elog.last_failure", "%" PRId64, r->last_failure ? r->last_failure : now);
		PUT("elog.verdict", r->verdict ? r->verdict : "", r->verdict ? strlen(r->verdict) : 0);
		PUT("elog.stderr", r->stderr_tail ? r->stderr_tail : "", r->stderr_len);
		PUT("elog.host", host, strlen(host));
		if (tiered) {
			PUTN(6, "elog.not_before", "%" PRId64, now + p->cfg.tier_ms[next_tier]);
			PUT("elog.tier", p->cfg.tier_name[next_tier], strlen(p->cfg.tier_name[next_tier]));
		}
	}
#undef PUTN
#undef PUT
	rec.timestamp_ms = r->timestamp;
	rec.key = r->key;
	rec.key_len = r->key_len;
	rec.value = r->value;
	rec.value_len = r->value_len;
	rec.headers = h;
	rec.header_count = n;
	partition = r->origin_partition >= 0 &&
			    (uint64_t)r->origin_partition < elog_producer_partition_count(prod)
		    ? (int32_t)r->origin_partition : -1;
	if (elog_producer_send(prod, &rec, partition, (uint64_t)(uintptr_t)r, err) < 0)
		return -1;
	r->state = P_SENDING;
	p->sending++;
	if (tiered)
		p->st.retried++;
	else
		p->st.dead++;
	return 0;
}

static void hand_on_or_later(struct elog_processor *p, struct prec *r)
{
	struct elog_err err;

	if (hand_on(p, r, &err) == 0) {
		r->hand_on_failed = 0;
		return;
	}
	if ((err.code == ELOG_E_LIMIT || err.code == ELOG_E_INVAL) && !p->has_fatal) {
		/* Refused for good (too large for a batch, a bad topic): the
		 * member stops, its commit before the record. */
		p->has_fatal = 1;
		elog_err_set(&p->fatal, err.code, "'%s' partition %" PRIu32 " offset %" PRId64
			     ": cannot hand on: %s", r->part->topic, r->part->partition, r->offset,
			     err.msg);
	} else if (!r->hand_on_failed++) {
		say(p, "'%s' partition %" PRIu32 " offset %" PRId64 ": cannot hand on: %s; "
		    "trying again", r->part->topic, r->part->partition, r->offset, err.msg);
	}
	r->state = P_PARKED;
	p->parked++;
}

/* ---------------------------------------------------------------- verdicts */

static void breaker_close(struct elog_processor *p)
{
	if (p->breaker)
		say(p, "breaker closed");
	p->breaker = 0;
	p->cooldowns = 0;
	p->probe_rec = NULL;
}

static void breaker_open(struct elog_processor *p, int64_t now)
{
	uint32_t wait = elog_backoff_ms(p->cooldowns++, p->cfg.backoff_min_ms,
					p->cfg.backoff_max_ms, (uint32_t)rand());

	if (wait < p->cfg.backoff_min_ms)
		wait = p->cfg.backoff_min_ms;
	if (p->breaker == 0) {
		p->st.breaker_opened++;
		say(p, "breaker open after %" PRIu32 " failures: waiting %" PRIu32 " ms",
		    p->streak, wait);
	} else {
		say(p, "breaker open again: waiting %" PRIu32 " ms", wait);
	}
	p->breaker = 1;
	p->cool_until = now + wait;
	p->probe_rec = NULL;
}

static void verdict(struct elog_processor *p, const struct elog_runner_verdict *v, int64_t now)
{
	struct prec *r = (struct prec *)(uintptr_t)v->tag;
	int probe = r->probe;

	p->running--;
	r->probe = 0;
	if (probe)
		p->probe_rec = NULL;
	if (!r->part) {
		r->state = P_DONE;
		rec_release_if_orphan(p, r);
		return;
	}
	if (v->kind == ELOG_VERDICT_OK) {
		p->st.done++;
		p->success_seq++;
		p->streak = 0;
		if (p->breaker)
			breaker_close(p);
		if (p->opener == r)
			p->opener = NULL;
		rec_done(p, r);
		return;
	}
	/* A failure: its story for the dead letter. */
	set_verdict(r, "", v->verdict);
	free(r->stderr_tail);
	r->stderr_tail = NULL;
	r->stderr_len = 0;
	if (v->stderr_len && (r->stderr_tail = malloc(v->stderr_len))) {
		memcpy(r->stderr_tail, v->stderr_tail, v->stderr_len);
		r->stderr_len = v->stderr_len;
	}
	if (!r->first_failure)
		r->first_failure = now;
	r->last_failure = now;
	p->st.failed_tries++;
	if (v->kind == ELOG_VERDICT_FAIL) {
		r->permanent = 1;
		hand_on_or_later(p, r);
		if (probe && p->breaker == 2)
			p->breaker = 1, p->cool_until = now;   /* probe another at once */
		return;
	}
	/* A retry verdict. When another record succeeded since this one
	 * began failing, the dependency works and the record is bad: its
	 * tries decide, and the breaker does not count it. Otherwise it may
	 * be the dependency: the breaker counts it, and once open, every
	 * record failing meanwhile is tried again afresh, never handed on. */
	if (!r->failing) {
		r->failing = 1;
		r->success_mark = p->success_seq;
	}
	if (p->cfg.breaker && r->success_mark == p->success_seq) {
		p->streak++;
		if (probe || p->breaker || p->streak >= p->cfg.breaker) {
			if (probe || !p->breaker) {
				p->opener = r;
				breaker_open(p, now);
			}
			r->tries_here = 0;
			r->state = P_WAITING;
			r->next_ms = 0;
			ready_push(p, r);
			return;
		}
	}
	if (r->tries_here < p->cfg.retries) {
		uint32_t wait = elog_backoff_ms(r->tries_here++, p->cfg.backoff_min_ms,
						p->cfg.backoff_max_ms, (uint32_t)rand());
		r->state = P_WAITING;
		r->next_ms = now + wait;
		ready_push(p, r);
		return;
	}
	hand_on_or_later(p, r);
}

/* Delivery reports, after the producers were polled. */
static void acked(struct elog_processor *p)
{
	for (uint32_t i = 0; i < p->acked_count; i++) {
		struct prec *r = p->acked[i];
		p->sending--;
		if (!r->part) {
			r->state = P_DONE;
			rec_release_if_orphan(p, r);
			continue;
		}
		if (r->next_ms == -1) {
			/* Not acknowledged: again (a duplicate there is possible). */
			r->state = P_PARKED;
			p->parked++;
			continue;
		}
		rec_done(p, r);
	}
	p->acked_count = 0;
}

/* Hand-ons that failed, again (at most every RESEND_MS). */
static void resend(struct elog_processor *p, int64_t now)
{
	if (now - p->resent_ms < RESEND_MS)
		return;
	p->resent_ms = now;
	for (uint32_t i = 0; i < p->part_count; i++)
		for (struct prec *r = p->parts[i]->head; r; r = r->next)
			if (r->state == P_PARKED) {
				p->parked--;
				hand_on_or_later(p, r);
			}
}

/* ---------------------------------------------------------------- polling */

size_t elog_processor_pollfds(const struct elog_processor *p, struct pollfd *fds, size_t max)
{
	size_t n = elog_runner_pollfds(p->runner, fds, max);

	for (uint32_t i = 0; i < p->dest_count && n < max; i++)
		n += elog_producer_pollfds(p->dests[i].producer, fds + n, max - n);
	return n;
}

static int64_t min_ms(int64_t a, int64_t b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int elog_processor_timeout_ms(const struct elog_processor *p)
{
	int64_t t = elog_runner_timeout_ms(p->runner), now = elog_wall_ms();

	for (uint32_t i = 0; i < p->dest_count; i++)
		t = min_ms(t, elog_producer_timeout_ms(p->dests[i].producer));
	if (p->ready_head && elog_runner_free_slots(p->runner) && p->breaker == 0 && !p->stopped)
		t = 0;
	if (p->delayed_min != INT64_MAX)
		t = min_ms(t, p->delayed_min > now ? p->delayed_min - now : 0);
	/* The cool-down's end matters only once nothing runs (start_ready
	 * waits for that; a verdict wakes the poll): else it spins. */
	if (p->breaker == 1 && !p->running && !p->stopped)
		t = min_ms(t, p->cool_until > now ? p->cool_until - now : 0);
	if (p->parked)
		t = min_ms(t, RESEND_MS);
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

int elog_processor_poll(struct elog_processor *p, int timeout_ms, struct elog_err *err)
{
	struct elog_runner_verdict v[64];
	struct pollfd fds[256];
	int64_t now = elog_wall_ms();
	int n, t;

	delayed_sweep(p, now);
	start_ready(p, now);
	t = elog_processor_timeout_ms(p);
	if (timeout_ms > 0 && (t < 0 || t > timeout_ms))
		t = timeout_ms;
	if (timeout_ms == 0)
		t = 0;
	if (t > 0) {
		size_t nf = elog_processor_pollfds(p, fds, sizeof(fds) / sizeof(fds[0]));
		if (poll(fds, (nfds_t)nf, t) < 0 && errno != EINTR)
			return elog_err_set(err, ELOG_E_IO, "poll: %s", strerror(errno));
	}
	if ((n = elog_runner_poll(p->runner, 0, v, sizeof(v) / sizeof(v[0]), err)) < 0)
		return -1;
	now = elog_wall_ms();
	for (int i = 0; i < n; i++)
		verdict(p, &v[i], now);
	for (uint32_t i = 0; i < p->dest_count; i++)
		if (elog_producer_poll(p->dests[i].producer, 0, err) < 0 && !p->has_fatal) {
			p->has_fatal = 1;
			p->fatal = *err;
		}
	acked(p);
	if (p->parked)
		resend(p, now);
	if (p->has_fatal) {
		*err = p->fatal;
		return -1;
	}
	delayed_sweep(p, now);
	start_ready(p, now);
	return 0;
}

/* ---------------------------------------------------------------- the rest */

int64_t elog_processor_position(const struct elog_processor *p, const char *topic,
				uint32_t partition)
{
	const struct ppart *pp = part_find(p, topic, partition);

	if (!pp)
		return -1;
	for (const struct prec *r = pp->head; r; r = r->next)
		if (r->state != P_DONE)
			return r->offset;
	return pp->next_offset;
}

void elog_processor_drop(struct elog_processor *p, const char *topic, uint32_t partition)
{
	struct ppart *pp = NULL;
	uint32_t i;

	for (i = 0; i < p->part_count; i++)
		if (p->parts[i]->partition == partition && strcmp(p->parts[i]->topic, topic) == 0) {
			pp = p->parts[i];
			break;
		}
	if (!pp)
		return;
	p->parts[i] = p->parts[--p->part_count];
	if (p->last_part == pp)
		p->last_part = NULL;
	for (struct prec *r = pp->head, *next; r; r = next) {
		next = r->next;
		p->queued--;
		if (r->state == P_PARKED)
			p->parked--;
		if (r == p->probe_rec)
			p->probe_rec = NULL;
		if (r == p->opener)
			p->opener = NULL;
		r->part = NULL;
		r->key_entry = NULL;
		rec_release_if_orphan(p, r);
	}
	for (uint32_t b = 0; b < pp->key_buckets; b++)
		for (struct pkey *k = pp->keys[b], *next; k; k = next) {
			next = k->next;
			free(k);
		}
	free(pp->keys);
	free(pp->topic);
	free(pp);
}

void elog_processor_stop_starting(struct elog_processor *p)
{
	p->stopped = 1;
}

int elog_processor_quiet(const struct elog_processor *p)
{
	return p->running == 0 && p->sending == 0;
}

int elog_processor_drained(const struct elog_processor *p)
{
	if (!elog_processor_quiet(p) || p->ready_head || p->parked)
		return 0;
	/* A backoff is work to finish; a retry tier's not-before is not. */
	for (const struct prec *r = p->delayed; r; r = r->list_next)
		if (r->part && r->state == P_WAITING && !r->tier_wait)
			return 0;
	return 1;
}

void elog_processor_stats(const struct elog_processor *p, struct elog_processor_stats *st)
{
	*st = p->st;
	st->queued = p->queued;
	st->running = p->running;
	st->sending = p->sending;
	st->breaker_state = p->breaker;
}

void elog_processor_metadata(const struct elog_processor *p, const char *member, char *out,
			     size_t cap)
{
	static const char *const state[] = {"closed", "open", "half-open"};

	snprintf(out, cap, "elog-proc member=%s done=%" PRIu64 " retried=%" PRIu64 " dead=%" PRIu64
		 " breaker=%s opened=%" PRIu64, member && *member ? member : "-", p->st.done, p->st.retried, p->st.dead,
		 state[p->breaker], p->st.breaker_opened);
}

void elog_processor_free(struct elog_processor *p)
{
	if (!p)
		return;
	if (p->runner)
		elog_runner_free(p->runner, 1000);
	while (p->part_count) {
		struct ppart *pp = p->parts[p->part_count - 1];
		/* Nothing runs any more, and the producers go without reports:
		 * every record can go. */
		for (struct prec *r = pp->head; r; r = r->next)
			if (r->state == P_RUNNING || r->state == P_SENDING)
				r->state = P_DONE;
		elog_processor_drop(p, pp->topic, pp->partition);
	}
	for (uint32_t i = 0; i < p->dest_count; i++) {
		elog_producer_free(p->dests[i].producer);
		free(p->dests[i].topic);
	}
	/* Records left in lists, or orphans still sending: the producers are
	 * gone, so nothing refers to them. */
	for (struct prec *r = p->ready_head, *next; r; r = next) {
		next = r->list_next;
		r->in_list = 0;
		if (!r->part)
			rec_free(r);
	}
	for (struct prec *r = p->delayed, *next; r; r = next) {
		next = r->list_next;
		r->in_list = 0;
		if (!r->part)
			rec_free(r);
	}
	for (uint32_t i = 0; p->mains && i < p->main_count; i++) {
		free(p->mains[i].name);
		free(p->mains[i].dlq);
		for (uint32_t k = 0; k < ELOG_PROCESSOR_TIERS_MAX; k++)
			free(p->mains[i].tiers[k]);
	}
	free(p->mains);
	free(p->subscription);
	free(p->parts);
	free(p->dests);
	free(p->acked);
	elog_buf_release(&p->line);
	free(p);
}
