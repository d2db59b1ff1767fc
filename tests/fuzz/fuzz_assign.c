/*
 * fuzz_assign — libFuzzer target for libcore/assign.
 *
 * The input bytes describe a small group: topics drawn from a pool of names
 * (repeats allowed, so that the refusal paths run too) with partition
 * counts, members with ids (repeats allowed), perhaps instance ids,
 * subscriptions (names that are topics and names that are not), current
 * targets (stale, out of range, doubly claimed) and owned lists. Every
 * strategy runs; a refusal must carry a message and leave nothing
 * allocated. An accepted group is checked: every partition of a subscribed
 * topic has exactly one owner, a subscriber; sticky with result.balanced has
 * no chain to a member holding 2 less (assign.h, guarantee 4), and always
 * no such single step (guarantee 2); the members reversed give the same
 * assignment; the output fed back as targets gives itself back. Then the
 * reconciliation: now within the target, now + waiting = target, nothing
 * in now that another member owns unless this one owns it too, release =
 * owned outside the target, stable iff all untouched. Any disagreement
 * aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

#define NAMES 10
#define TOPICS 8
#define MEMBERS 12
#define PARTS 16
#define LIST 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const pool[NAMES] = {
	"orders", "audit", "zeta", "b", "clicks", "a1", "m", "payments", "x", "" };
static const char *const id_pool[16] = {
	"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "ma", "mb", "mc", "md", "me", "m0" };

struct input {
	const uint8_t *p, *end;
};

static uint8_t next(struct input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

struct group {
	struct elog_assign_topic topics[TOPICS];
	struct elog_assign_member members[MEMBERS];
	const char *subs[MEMBERS][NAMES];
	struct elog_assign_ref target[MEMBERS][LIST];
	struct elog_assign_ref owned_refs[MEMBERS][LIST];
	struct elog_assign_owned owned[MEMBERS];
	struct elog_assign_group g;
};

static void parse(struct group *gr, struct input *in)
{
	uint32_t topics = next(in) % (TOPICS + 1), members = next(in) % (MEMBERS + 1);

	memset(gr, 0, sizeof(*gr));
	for (uint32_t t = 0; t < topics; t++) {
		uint8_t b = next(in);
		gr->topics[t] = (struct elog_assign_topic){ pool[b % NAMES], (uint32_t)(b >> 4) };
	}
	for (uint32_t i = 0; i < members; i++) {
		struct elog_assign_member *m = &gr->members[i];
		uint8_t b = next(in), subs = next(in), targets = next(in) % LIST, owns = next(in) % LIST;
		m->id = id_pool[b % 16];
		m->instance_id = b & 0x10 ? id_pool[(b >> 5) % 16] : NULL;
		for (uint32_t n = 0; n < 8; n++)
			if (subs & (1u << n))
				gr->subs[i][m->topic_count++] = pool[(n + (b >> 6)) % (NAMES - 1)];
		m->topics = gr->subs[i];
		for (uint32_t k = 0; k < targets; k++) {
			uint8_t x = next(in);
			gr->target[i][k] = (struct elog_assign_ref){ pool[x % (NAMES - 1)], x / 10u % PARTS };
		}
		m->target = gr->target[i];
		m->target_count = targets;
		for (uint32_t k = 0; k < owns; k++) {
			uint8_t x = next(in);
			gr->owned_refs[i][k] = (struct elog_assign_ref){ pool[x % (NAMES - 1)], x / 10u % PARTS };
		}
		gr->owned[i] = (struct elog_assign_owned){ gr->owned_refs[i], owns };
	}
	gr->g = (struct elog_assign_group){ gr->topics, topics, gr->members, members, 0 };
	if (next(in) & 1)
		gr->g.balance_steps_max = 1 + next(in);
}

/* Does member i subscribe to topic t (by name)? */
static int subscribes(const struct group *gr, uint32_t i, uint32_t t)
{
	for (uint32_t k = 0; k < gr->members[i].topic_count; k++)
		if (strcmp(gr->members[i].topics[k], gr->topics[t].name) == 0)
			return 1;
	return 0;
}

/* owner[t][p] (member or -1), checking exclusive and complete. */
static void owners(const struct group *gr, const struct elog_assign_result *r, int owner[TOPICS][PARTS])
{
	CHECK(r->member_count == gr->g.member_count);
	for (uint32_t t = 0; t < TOPICS; t++)
		for (uint32_t p = 0; p < PARTS; p++)
			owner[t][p] = -1;
	for (uint32_t i = 0; i < r->member_count; i++)
		for (uint32_t k = 0; k < r->members[i].count; k++) {
			const struct elog_assign_tp *tp = &r->members[i].tp[k];
			CHECK(tp->topic < gr->g.topic_count && tp->partition < gr->topics[tp->topic].partitions);
			CHECK(owner[tp->topic][tp->partition] == -1);
			CHECK(subscribes(gr, i, tp->topic));
			owner[tp->topic][tp->partition] = (int)i;
		}
	for (uint32_t t = 0; t < gr->g.topic_count; t++) {
		int anyone = 0;
		for (uint32_t i = 0; i < gr->g.member_count; i++)
			anyone |= subscribes(gr, i, t);
		for (uint32_t p = 0; p < gr->topics[t].partitions; p++)
			CHECK((owner[t][p] >= 0) == anyone);
	}
}

/* No chain (or, with one_step, no single step) to a member holding 2 less. */
static void check_balance(const struct group *gr, const struct elog_assign_result *r,
			  int owner[TOPICS][PARTS], int one_step)
{
	uint32_t members = gr->g.member_count;

	for (uint32_t a = 0; a < members; a++) {
		uint32_t queue[MEMBERS], head = 0, tail = 0, seen = 1u << a;
		queue[tail++] = a;
		while (head < tail) {
			uint32_t x = queue[head++];
			for (uint32_t t = 0; t < gr->g.topic_count; t++) {
				int holds = 0;
				for (uint32_t p = 0; p < gr->topics[t].partitions; p++)
					holds |= owner[t][p] == (int)x;
				for (uint32_t y = 0; holds && y < members; y++) {
					if ((seen & (1u << y)) || !subscribes(gr, y, t))
						continue;
					CHECK(r->members[y].count + 2 > r->members[a].count);
					seen |= 1u << y;
					if (!one_step)
						queue[tail++] = y;
				}
			}
		}
	}
}

static void check_reconcile(const struct group *gr, const struct elog_assign_result *r)
{
	struct elog_assign_handover h;
	struct elog_err err;
	int stable;

	CHECK(elog_assign_reconcile(gr->topics, gr->g.topic_count, r->members, gr->owned,
				    gr->g.member_count, &h, &err) == 0);
	stable = 1;
	for (uint32_t i = 0; i < h.member_count; i++) {
		const struct elog_assign_handover_member *hm = &h.members[i];
		uint32_t outside = 0;
		CHECK(hm->now.count + hm->waiting == r->members[i].count);
		for (uint32_t k = 0; k < hm->now.count; k++) {
			const struct elog_assign_tp *tp = &hm->now.tp[k];
			int mine = 0, others = 0;
			for (uint32_t j = 0; j < h.member_count; j++)
				for (uint32_t o = 0; o < gr->owned[j].count; o++)
					if (strcmp(gr->owned[j].partitions[o].topic, gr->topics[tp->topic].name) == 0 &&
					    gr->owned[j].partitions[o].partition == tp->partition) {
						mine |= j == i;
						others |= j != i;
					}
			CHECK(mine || !others);
		}
		/* release: every owned entry outside the target, once per partition */
		for (uint32_t o = 0; o < gr->owned[i].count; o++) {
			const struct elog_assign_ref *ref = &gr->owned[i].partitions[o];
			int inside = 0, repeat = 0;
			for (uint32_t k = 0; k < r->members[i].count; k++)
				inside |= strcmp(gr->topics[r->members[i].tp[k].topic].name, ref->topic) == 0 &&
					  r->members[i].tp[k].partition == ref->partition;
			for (uint32_t q = 0; q < o; q++)
				repeat |= strcmp(gr->owned[i].partitions[q].topic, ref->topic) == 0 &&
					  gr->owned[i].partitions[q].partition == ref->partition;
			outside += !inside && !repeat;
		}
		/* an entry naming no partition may repeat in release; others not */
		CHECK(hm->release_count >= outside);
		stable &= hm->untouched;
		if (hm->untouched)
			CHECK(hm->release_count == 0 && hm->waiting == 0);
	}
	CHECK(h.stable == stable);
	CHECK(elog_assign_stable(gr->topics, gr->g.topic_count, r->members, gr->owned,
				 gr->g.member_count, &err) == stable);
	elog_assign_handover_release(&h);
}

/* The same group with the members reversed: the same assignment. */
static void check_reversed(const struct group *gr, enum elog_assign_strategy s,
			   const struct elog_assign_result *r)
{
	static struct group rev;
	struct elog_assign_result r2;
	struct elog_err err;
	uint32_t n = gr->g.member_count;

	rev = *gr;
	for (uint32_t i = 0; i < n; i++)
		rev.members[i] = gr->members[n - 1 - i];
	rev.g.members = rev.members;
	rev.g.topics = rev.topics;
	CHECK(elog_assign_compute(&rev.g, s, &r2, &err) == 0);
	for (uint32_t i = 0; i < n; i++) {
		CHECK(r2.members[n - 1 - i].count == r->members[i].count);
		CHECK(r->members[i].count == 0 ||
		      memcmp(r2.members[n - 1 - i].tp, r->members[i].tp,
			     r->members[i].count * sizeof(*r->members[i].tp)) == 0);
	}
	CHECK(r2.kept == r->kept && r2.moved == r->moved && r2.balanced == r->balanced);
	elog_assign_result_release(&r2);
}

/* Sticky fed its own output gives it back. */
static void check_fixed_point(const struct group *gr, const struct elog_assign_result *r)
{
	static struct group again;
	static struct elog_assign_ref refs[MEMBERS][TOPICS * PARTS];
	struct elog_assign_result r2;
	struct elog_err err;

	again = *gr;
	again.g.members = again.members;
	again.g.topics = again.topics;
	for (uint32_t i = 0; i < gr->g.member_count; i++) {
		for (uint32_t k = 0; k < r->members[i].count; k++)
			refs[i][k] = (struct elog_assign_ref){ gr->topics[r->members[i].tp[k].topic].name,
							       r->members[i].tp[k].partition };
		again.members[i].target = refs[i];
		again.members[i].target_count = r->members[i].count;
	}
	CHECK(elog_assign_compute(&again.g, ELOG_ASSIGN_STICKY, &r2, &err) == 0);
	/* with the full budget the result is optimal, hence a fixed point */
	if (r->balanced) {
		CHECK(r2.moved == 0 && r2.kept == r->assigned);
		for (uint32_t i = 0; i < gr->g.member_count; i++)
			CHECK(r2.members[i].count == r->members[i].count &&
			      (r->members[i].count == 0 ||
			       memcmp(r2.members[i].tp, r->members[i].tp,
				      r->members[i].count * sizeof(*r->members[i].tp)) == 0));
	}
	elog_assign_result_release(&r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct group gr;
	struct input in = { data, data + size };

	parse(&gr, &in);
	for (int s = 0; s < ELOG_ASSIGN__COUNT; s++) {
		struct elog_assign_result r;
		struct elog_err err;
		int owner[TOPICS][PARTS];

		if (elog_assign_compute(&gr.g, (enum elog_assign_strategy)s, &r, &err) < 0) {
			CHECK(err.msg[0] != '\0' && r.members == NULL && r.pool_ == NULL);
			CHECK(err.code == ELOG_E_INVAL || err.code == ELOG_E_LIMIT);
			return 0;
		}
		owners(&gr, &r, owner);
		if (s == ELOG_ASSIGN_STICKY) {
			check_balance(&gr, &r, owner, !r.balanced);
			check_fixed_point(&gr, &r);
			check_reconcile(&gr, &r);
		}
		check_reversed(&gr, (enum elog_assign_strategy)s, &r);
		elog_assign_result_release(&r);
	}
	return 0;
}
