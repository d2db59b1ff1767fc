/* dlq — see dlq.h. */
#include "dlq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ------------------------------------------------------------ headers */

/* Decimal digits (a '-' first when neg is allowed) of at most 19 characters. */
static int parse_dec(const uint8_t *p, size_t len, int neg, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;
	int minus = 0;

	if (!p || len == 0 || len > 20)
		return -1;
	if (neg && p[0] == '-') {
		minus = 1;
		i = 1;
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v > (INT64_MAX - (p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = minus ? -v : v;
	return 0;
}

static int name_is(const struct elog_header *h, const char *name)
{
	size_t n = strlen(name);

	return h->name_len == n && memcmp(h->name, name, n) == 0;
}

static void number(const struct elog_header *h, int neg, int64_t *field, int64_t absent)
{
	int64_t v;

	*field = h->value && h->value_len >= 0 &&
		 parse_dec(h->value, (size_t)h->value_len, neg, &v) == 0 ? v : absent;
}

static void text(const struct elog_header *h, struct elog_dlq_text *t)
{
	t->ptr = h->value_len >= 0 ? h->value : NULL;
	t->len = h->value_len >= 0 ? (size_t)h->value_len : 0;
	if (!t->ptr && h->value_len == 0)
		t->ptr = (const uint8_t *)"";
}

void elog_dead_letter_read(const struct elog_record_view *v, struct elog_dead_letter *dl)
{
	memset(dl, 0, sizeof(*dl));
	dl->partition = dl->offset = dl->attempts = -1;
	dl->timestamp_ms = dl->first_failure_ms = dl->last_failure_ms = dl->not_before_ms =
		ELOG_DLQ_NO_TIME;
	for (uint32_t i = 0; i < v->header_count; i++) {
		const struct elog_header *h = &v->headers[i];
		if (h->name_len < 5 || memcmp(h->name, "elog.", 5) != 0)
			continue;
		if (name_is(h, "elog.topic"))
			text(h, &dl->topic);
		else if (name_is(h, "elog.verdict"))
			text(h, &dl->verdict);
		else if (name_is(h, "elog.stderr"))
			text(h, &dl->stderr_tail);
		else if (name_is(h, "elog.group"))
			text(h, &dl->group);
		else if (name_is(h, "elog.host"))
			text(h, &dl->host);
		else if (name_is(h, "elog.tier"))
			text(h, &dl->tier);
		else if (name_is(h, "elog.partition")) {
			number(h, 0, &dl->partition, -1);
			if (dl->partition > UINT32_MAX)
				dl->partition = -1;
		} else if (name_is(h, "elog.offset"))
			number(h, 0, &dl->offset, -1);
		else if (name_is(h, "elog.attempts"))
			number(h, 0, &dl->attempts, -1);
		else if (name_is(h, "elog.timestamp"))
			number(h, 1, &dl->timestamp_ms, ELOG_DLQ_NO_TIME);
		else if (name_is(h, "elog.first_failure"))
			number(h, 1, &dl->first_failure_ms, ELOG_DLQ_NO_TIME);
		else if (name_is(h, "elog.last_failure"))
			number(h, 1, &dl->last_failure_ms, ELOG_DLQ_NO_TIME);
		else if (name_is(h, "elog.not_before"))
			number(h, 1, &dl->not_before_ms, ELOG_DLQ_NO_TIME);
		else if (name_is(h, "elog.replay.count") && dl->replay_count >= 0) {
			int64_t n;
			number(h, 0, &n, -1);
			if (n < 0 || n > dl->replay_count)
				dl->replay_count = n;
		}
	}
}

int64_t elog_dead_letter_time(const struct elog_dead_letter *dl, const struct elog_record_view *v)
{
	return dl->last_failure_ms != ELOG_DLQ_NO_TIME ? dl->last_failure_ms : v->timestamp_ms;
}

int elog_dead_letter_topic(const struct elog_dead_letter *dl, char *name, size_t cap)
{
	if (!dl->topic.ptr)
		return 0;
	if (dl->topic.len >= cap || memchr(dl->topic.ptr, '\0', dl->topic.len) ||
	    elog_topic_name_check((const char *)dl->topic.ptr, dl->topic.len, 0, NULL) < 0)
		return -1;
	memcpy(name, dl->topic.ptr, dl->topic.len);
	name[dl->topic.len] = '\0';
	return 1;
}

int elog_dlq_group_name(const char *topic, char *out, size_t cap, struct elog_err *err)
{
	int n = snprintf(out, cap, ELOG_DLQ_GROUP_PREFIX "%s", topic);

	if (n < 0 || (size_t)n >= cap || n > ELOG_DLQ_GROUP_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "a topic name of %zu bytes is too long for its "
				    "replay group's name (%sTOPIC: at most %d bytes)", strlen(topic),
				    ELOG_DLQ_GROUP_PREFIX, ELOG_DLQ_GROUP_MAX);
	return 0;
}

/* ------------------------------------------------------------ offset sets */

void elog_offset_set_init(struct elog_offset_set *s)
{
	memset(s, 0, sizeof(*s));
}

void elog_offset_set_release(struct elog_offset_set *s)
{
	free(s->r);
	memset(s, 0, sizeof(*s));
}

static int grow(struct elog_offset_set *s, struct elog_err *err)
{
	size_t cap;
	struct elog_offset_range *r;

	if (s->n < s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	if (!(r = realloc(s->r, cap * sizeof(*r))))
		return elog_err_set(err, ELOG_E_NOMEM, "out of memory");
	s->r = r;
	s->cap = cap;
	return 0;
}

/* The first range whose hi >= o (o in it, adjacent to it, or before it). */
static size_t find(const struct elog_offset_set *s, int64_t o)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->r[mid].hi < o)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int elog_offset_set_add(struct elog_offset_set *s, int64_t lo, int64_t hi, struct elog_err *err)
{
	size_t i, j;

	if (lo >= hi)
		return 0;
	i = find(s, lo);
	for (j = i; j < s->n && s->r[j].lo <= hi; j++)
		;
	if (i == j) {
		if (grow(s, err) < 0)
			return -1;
		memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(*s->r));
		s->r[i] = (struct elog_offset_range){lo, hi};
		s->n++;
		return 0;
	}
	if (s->r[i].lo < lo)
		lo = s->r[i].lo;
	if (s->r[j - 1].hi > hi)
		hi = s->r[j - 1].hi;
	s->r[i] = (struct elog_offset_range){lo, hi};
	memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(*s->r));
	s->n -= j - i - 1;
	return 0;
}

int elog_offset_set_remove(struct elog_offset_set *s, int64_t o, struct elog_err *err)
{
	size_t i = find(s, o + 1);
	struct elog_offset_range *r;

	if (i == s->n || s->r[i].lo > o || s->r[i].hi <= o)
		return 0;
	r = &s->r[i];
	if (r->lo == o && r->hi == o + 1) {
		memmove(r, r + 1, (s->n - i - 1) * sizeof(*r));
		s->n--;
	} else if (r->lo == o) {
		r->lo++;
	} else if (r->hi == o + 1) {
		r->hi--;
	} else {
		if (grow(s, err) < 0)
			return -1;
		r = &s->r[i];
		memmove(r + 1, r, (s->n - i) * sizeof(*r));
		s->n++;
		r[0].hi = o;
		r[1].lo = o + 1;
	}
	return 0;
}

int elog_offset_set_has(const struct elog_offset_set *s, int64_t o)
{
	size_t i = find(s, o + 1);

	return i < s->n && s->r[i].lo <= o && o < s->r[i].hi;
}

int64_t elog_offset_set_gap(const struct elog_offset_set *s, int64_t from)
{
	size_t i = find(s, from + 1);

	return i < s->n && s->r[i].lo <= from ? s->r[i].hi : from;
}

int64_t elog_offset_set_count(const struct elog_offset_set *s, int64_t lo, int64_t hi)
{
	int64_t n = 0;

	for (size_t i = find(s, lo); i < s->n && s->r[i].lo < hi; i++) {
		int64_t a = s->r[i].lo > lo ? s->r[i].lo : lo, b = s->r[i].hi < hi ? s->r[i].hi : hi;
		if (a < b)
			n += b - a;
	}
	return n;
}

/* --------------------------------------------------- the replay group's record */

static size_t digits(int64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* The part of range i at or past position: *lo..*hi (exclusive); 0 if none. */
static int past(const struct elog_offset_set *s, size_t i, int64_t position, int64_t *lo,
		int64_t *hi)
{
	*lo = s->r[i].lo > position ? s->r[i].lo : position;
	*hi = s->r[i].hi;
	return *lo < *hi;
}

size_t elog_dlq_meta_len(const struct elog_offset_set *s, int64_t position)
{
	size_t n = strlen(ELOG_DLQ_META_PREFIX), listed = 0;
	int64_t lo, hi;

	for (size_t i = find(s, position + 1); i < s->n; i++) {
		if (!past(s, i, position, &lo, &hi))
			continue;
		n += (listed++ ? 1 : 0) + digits(lo) + (hi - lo > 1 ? 1 + digits(hi - 1) : 0);
	}
	return n;
}

int elog_dlq_meta_format(const struct elog_offset_set *s, int64_t position, char *out, size_t cap,
			 struct elog_err *err)
{
	size_t need = elog_dlq_meta_len(s, position), used;
	int64_t lo, hi;
	int listed = 0;

	if (need > ELOG_DLQ_META_MAX || need >= cap)
		return elog_err_set(err, ELOG_E_LIMIT, "the decided offsets past %" PRId64 " need %zu "
				    "bytes of metadata (at most %d)", position, need,
				    ELOG_DLQ_META_MAX);
	used = (size_t)snprintf(out, cap, "%s", ELOG_DLQ_META_PREFIX);
	for (size_t i = find(s, position + 1); i < s->n; i++) {
		if (!past(s, i, position, &lo, &hi))
			continue;
		if (hi - lo > 1)
			used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64 "-%" PRId64,
						 listed ? "," : "", lo, hi - 1);
		else
			used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64,
						 listed ? "," : "", lo);
		listed = 1;
	}
	return 0;
}

/* Digits at *p into *v (an offset); -1 when none or too large. */
static int meta_number(const char **p, int64_t *v)
{
	const char *start = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	if (*p == start || *p - start > 18)
		return -1;
	return parse_dec((const uint8_t *)start, (size_t)(*p - start), 0, v);
}

/* "N,N-M,..." up to a blank or the end, ascending and disjoint. */
static int meta_list(const char **p, struct elog_offset_set *s, struct elog_err *err)
{
	int64_t lo, hi, prev = -1;

	while (**p && **p != ' ') {
		if (prev >= 0 && *(*p)++ != ',')
			return elog_err_set(err, ELOG_E_INVAL, "expected ',' in decided=");
		if (meta_number(p, &lo) < 0)
			return elog_err_set(err, ELOG_E_INVAL, "expected an offset in decided=");
		hi = lo;
		if (**p == '-') {
			(*p)++;
			if (meta_number(p, &hi) < 0 || hi < lo)
				return elog_err_set(err, ELOG_E_INVAL, "bad range %" PRId64 "- in "
						    "decided=", lo);
		}
		if (lo <= prev)
			return elog_err_set(err, ELOG_E_INVAL, "offsets out of order in decided= "
					    "(%" PRId64 " after %" PRId64 ")", lo, prev);
		if (elog_offset_set_add(s, lo, hi + 1, err) < 0)
			return -1;
		prev = hi;
	}
	return 0;
}

int elog_dlq_meta_parse(const char *text, struct elog_offset_set *s, struct elog_err *err)
{
	static const char tool[] = "elog-dlq";
	const char *p = text;

	if (!text || !text[0])
		return 0;
	if (strncmp(p, tool, sizeof(tool) - 1) != 0 || (p[sizeof(tool) - 1] != ' ' &&
							p[sizeof(tool) - 1] != '\0'))
		return elog_err_set(err, ELOG_E_INVAL, "its commit's metadata is not elog-dlq's "
				    "(\"%.40s\")", text);
	p += sizeof(tool) - 1;
	while (*p == ' ') {
		p++;
		if (strncmp(p, "decided=", 8) == 0) {
			p += 8;
			if (meta_list(&p, s, err) < 0)
				return elog_err_prefix(err, "its commit's metadata");
		} else {
			/* Another key: a later version's; skipped. */
			while (*p && *p != ' ')
				p++;
		}
	}
	if (*p)
		return elog_err_set(err, ELOG_E_INVAL, "its commit's metadata: unexpected '%c'", *p);
	return 0;
}
