/*
 * Unit tests: raftjournal — every group's latest Raft state in one file:
 * round trip, every byte flipped, two copies lost, torn tails, garbage past
 * the end, snapshots (asked for, and when the file grows).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "raftjournal.h"
#include "t.h"

/* A topic name at the record's limit (65535 bytes), and one past it. */
static char long_topic[0x10000];

#define NG 6
static const struct elog_raftwire_group groups[NG] = {
	{"", 0, 0, 0},                 /* the metadata group */
	{"orders", 6, 0, 1},
	{"orders", 6, 0, 2},           /* the same partition, a later incarnation */
	{"orders", 6, 1, 1},
	{"payments", 8, 3, 7},
	{"audit.trail-2024", 16, 4294967295u, 9007199254740993},
};

/* Groups no record was written for. */
static const struct elog_raftwire_group strangers[] = {
	{"", 0, 0, 1},
	{"", 0, 1, 0},
	{"orders", 6, 0, 3},
	{"orders", 6, 2, 1},
	{"order", 5, 0, 1},
	{"ordersx", 7, 0, 1},
	{"orders", 5, 0, 1},           /* "order", spelled with a longer buffer */
	{"Orders", 6, 0, 1},
	{"payments", 8, 3, -7},
};

/* The state a test writes for `term`: every field derived from it. */
static void mkstate(struct elog_raftstate *s, uint64_t term)
{
	elog_raftstate_init(s);
	s->hard.term = term;
	s->hard.vote = (int32_t)(term % 4) - 1;
	s->hard.restricted_term = term / 2;
	s->commit = (int64_t)term * 100;
	s->flags = term % 2 ? ELOG_RAFTSTATE_CLEAN : 0;
	s->seq = term * 3 + 1;
	s->term_count = term >= 1000 ? ELOG_RAFT_TERMS_MAX : (uint32_t)(term % 5);
	for (uint32_t i = 0; i < s->term_count; i++)
		s->terms[i] = (struct elog_raft_term_start){i + 1, (int64_t)i * 10};
}

static size_t state_len(uint64_t term)
{
	struct elog_raftstate s;
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];

	mkstate(&s, term);
	return elog_raftstate_encode(&s, buf, sizeof(buf));
}

/* One batch: groups[g[i]] gets terms[i]; the model follows when it is durable. */
static int put(struct elog_raftjournal *j, const int *g, const uint64_t *terms, uint32_t n,
	       uint64_t *model, struct elog_err *err)
{
	struct elog_raftjournal_entry e[64];
	struct elog_raftstate s[64];

	for (uint32_t i = 0; i < n; i++) {
		mkstate(&s[i], terms[i]);
		e[i].id = &groups[g[i]];
		e[i].s = &s[i];
	}
	if (elog_raftjournal_append(j, e, n, err) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		model[g[i]] = terms[i];
	return 0;
}

/* Whether the journal holds exactly the model (term 0: no record); why if not. */
static int matches(struct elog_raftjournal *j, const uint64_t *model, char *why, size_t cap)
{
	struct elog_raftstate want, got;
	struct elog_err err;
	uint32_t live = 0;
	int found;

	for (int g = 0; g < NG; g++) {
		if (elog_raftjournal_find(j, &groups[g], &got, &found, &err) < 0) {
			snprintf(why, cap, "group %d: %.200s", g, err.msg);
			return 0;
		}
		if (found != (model[g] != 0)) {
			snprintf(why, cap, "group %d: found=%d, want term %llu", g, found,
				 (unsigned long long)model[g]);
			return 0;
		}
		if (!found)
			continue;
		live++;
		mkstate(&want, model[g]);
		if (!elog_raftstate_equal(&want, &got) || got.seq != want.seq || got.copy_damaged) {
			snprintf(why, cap, "group %d: term %llu, want %llu", g,
				 (unsigned long long)got.hard.term, (unsigned long long)model[g]);
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
		if (elog_raftjournal_find(j, &strangers[i], &got, &found, &err) < 0 || found) {
			snprintf(why, cap, "stranger %zu found", i);
			return 0;
		}
	}
	if (elog_raftjournal_count(j) != live) {
		snprintf(why, cap, "count %u, want %u", elog_raftjournal_count(j), live);
		return 0;
	}
	return 1;
}

#define T_MATCHES(j, model) \
	do { char t_why_[256]; \
	     if (!matches((j), (model), t_why_, sizeof(t_why_))) { \
	         t_fail(__FILE__, __LINE__, t_why_); return; } } while (0)

/* Append the n records to the open j (model follows), close it, open the
 * file again and check it holds model; j is closed either way. 0, or -1
 * with why. */
static int put_reopened(const char *dir, struct elog_raftjournal *j, const int *g,
			const uint64_t *t, uint32_t n, uint64_t *model, char *why, size_t cap)
{
	struct elog_err err;
	int created, ok;

	if (put(j, g, t, n, model, &err) < 0) {
		elog_raftjournal_close(j);
		snprintf(why, cap, "append: %s", err.msg);
		return -1;
	}
	elog_raftjournal_close(j);
	if (elog_raftjournal_open(dir, &j, &created, &err) < 0) {
		snprintf(why, cap, "reopen: %s", err.msg);
		return -1;
	}
	ok = matches(j, model, why, cap);
	elog_raftjournal_close(j);
	return ok ? 0 : -1;
}

#define T_PUT_REOPENED(dir, j, g, t, n, model) \
	do { char t_why_[1024]; \
	     if (put_reopened((dir), (j), (g), (t), (n), (model), t_why_, sizeof(t_why_)) < 0) { \
	         t_fail(__FILE__, __LINE__, t_why_); return; } } while (0)

static void jpath(const char *dir, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, ELOG_RAFTJOURNAL_NAME);
}

static uint8_t *slurp(const char *dir, size_t *len)
{
	char path[4096];
	struct stat st;
	uint8_t *buf;
	int fd;

	jpath(dir, path, sizeof(path));
	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != (ssize_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)st.st_size;
	close(fd);
	return buf;
}

static int spit(const char *dir, const uint8_t *buf, size_t len)
{
	char path[4096];
	int fd, rc;

	jpath(dir, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return -1;
	rc = write(fd, buf, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

static long long disk_size(const char *dir)
{
	char path[4096];
	struct stat st;

	jpath(dir, path, sizeof(path));
	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* What a record of groups[g] at `term` takes in a batch. */
static size_t rec_bytes(int g, uint64_t term)
{
	return 2 + groups[g].topic_len + 4 + 8 + 2 + state_len(term);
}

/* What a snapshot of the model takes: one batch, two copies, and the
 * empty batch after it (two copies of a header). */
static size_t snapshot_bytes(const uint64_t *model)
{
	size_t n = ELOG_RAFTJOURNAL_HEAD_BYTES;

	for (int g = 0; g < NG; g++)
		if (model[g])
			n += rec_bytes(g, model[g]);
	return 2 * n + 2 * ELOG_RAFTJOURNAL_HEAD_BYTES;
}

/*
 * Four batches: every group, two updates, the metadata group twice in one
 * batch (the later wins), one more. models[k] is the state after batch k,
 * ends[k] where batch k ends in the file.
 */
static uint64_t models[5][NG];
static uint64_t ends[5];

static int build(const char *dir, struct elog_err *err)
{
	static const int g1[] = {0, 1, 2, 3, 4, 5}, g2[] = {1, 2}, g3[] = {0, 3, 0}, g4[] = {4};
	static const uint64_t t1[] = {11, 12, 13, 14, 15, 16}, t2[] = {21, 22},
			      t3[] = {31, 32, 33}, t4[] = {41};
	struct elog_raftjournal *j;
	int created;

	memset(models, 0, sizeof(models));
	memset(ends, 0, sizeof(ends));
	if (elog_raftjournal_open(dir, &j, &created, err) < 0)
		return -1;
	if (!created || put(j, g1, t1, 6, models[1], err) < 0)
		goto fail;
	ends[1] = elog_raftjournal_size(j);
	memcpy(models[2], models[1], sizeof(models[1]));
	if (put(j, g2, t2, 2, models[2], err) < 0)
		goto fail;
	ends[2] = elog_raftjournal_size(j);
	memcpy(models[3], models[2], sizeof(models[2]));
	if (put(j, g3, t3, 3, models[3], err) < 0)
		goto fail;
	ends[3] = elog_raftjournal_size(j);
	memcpy(models[4], models[3], sizeof(models[3]));
	if (put(j, g4, t4, 1, models[4], err) < 0)
		goto fail;
	ends[4] = elog_raftjournal_size(j);
	elog_raftjournal_close(j);
	return 0;
fail:
	elog_raftjournal_close(j);
	return -1;
}

/* Where copy `copy` of batch b (1-based) starts, and one copy's bytes. */
static size_t copy_at(int b, int copy)
{
	return (size_t)(ends[b - 1] + (uint64_t)copy * ((ends[b] - ends[b - 1]) / 2));
}

static size_t copy_len(int b)
{
	return (size_t)((ends[b] - ends[b - 1]) / 2);
}

static void test_round_trip(void)
{
	const char *dir = t_tmpdir();
	static const int g1[] = {0, 1, 2, 3, 4, 5}, g2[] = {2, 0, 2, 2};
	static const uint64_t t1[] = {1, 2, 3, 4, 5, 6}, t2[] = {7, 8, 9, 10};
	uint64_t model[NG] = {0};
	struct elog_raftjournal *j;
	struct elog_err err;
	int created = 7;

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(created, 1);
	T_EQ_INT(elog_raftjournal_size(j), 0);
	T_MATCHES(j, model);
	T_OK(put(j, g1, t1, 6, model, &err), &err);
	T_MATCHES(j, model);
	/* the same group three times in a batch: the last one wins */
	T_OK(put(j, g2, t2, 4, model, &err), &err);
	T_EQ_INT(model[2], 10);
	T_MATCHES(j, model);
	T_EQ_INT(elog_raftjournal_size(j), disk_size(dir));
	elog_raftjournal_close(j);

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(created, 0);
	T_MATCHES(j, model);
	T_EQ_INT(elog_raftjournal_size(j), disk_size(dir));
	elog_raftjournal_close(j);

	/* the layout: two copies of each batch, flags and count in the header */
	{
		size_t len;
		uint8_t *buf = slurp(dir, &len);
		size_t c1 = 2 * ELOG_RAFTJOURNAL_HEAD_BYTES, c2 = c1;
		for (int g = 0; g < NG; g++)
			c1 += 2 * rec_bytes(g, t1[g]);
		for (int i = 0; i < 4; i++)
			c2 += 2 * rec_bytes(g2[i], t2[i]);
		T_ASSERT(buf);
		T_EQ_INT(len, c1 + c2);
		T_CHECK(memcmp(buf, "ERSJ", 4) == 0);
		T_EQ_INT(buf[6], 1);              /* copy 0, the first batch */
		T_EQ_INT(buf[8], 6);              /* records */
		T_CHECK(memcmp(buf + c1 / 2, "ERSJ", 4) == 0);
		T_EQ_INT(buf[c1 / 2 + 6], 3);     /* copy 1, the first batch */
		/* the same counts, number and payload in both copies */
		T_CHECK(memcmp(buf + 8, buf + c1 / 2 + 8, 16) == 0);
		T_CHECK(memcmp(buf + 28, buf + c1 / 2 + 28, c1 / 2 - 28) == 0);
		T_EQ_INT(buf[c1 + 6], 0);         /* the second batch */
		T_EQ_INT(buf[c1 + c2 / 2 + 6], 2);
		T_EQ_INT(buf[c1 + 8], 4);
		free(buf);
	}
}

/* The records as each() gives them: each once, their bytes the state found. */
struct seen {
	struct elog_raftjournal *j;
	int count[NG];
	int bad;
};

static void each_cb(void *ctx, const struct elog_raftwire_group *id, const uint8_t *state,
		    size_t len)
{
	struct seen *s = ctx;
	struct elog_raftstate st;
	struct elog_err err;
	int g;

	for (g = 0; g < NG; g++)
		if (groups[g].topic_len == id->topic_len &&
		    memcmp(groups[g].topic, id->topic, id->topic_len) == 0 &&
		    groups[g].partition == id->partition && groups[g].incarnation == id->incarnation)
			break;
	if (g == NG || elog_raftstate_decode(state, len, &st, &err) < 0) {
		s->bad++;
		return;
	}
	s->count[g]++;
}

static void test_each(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	struct seen seen;
	int created;

	T_OK(build(dir, &err), &err);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	memset(&seen, 0, sizeof(seen));
	seen.j = j;
	elog_raftjournal_each(j, each_cb, &seen);
	elog_raftjournal_close(j);
	T_EQ_INT(seen.bad, 0);
	for (int g = 0; g < NG; g++)
		T_EQ_INT(seen.count[g], 1);
}

/* No record: found=0 and a fresh state, before any batch and after. */
static void test_unknown_group(void)
{
	const char *dir = t_tmpdir();
	static const int g[] = {1};
	static const uint64_t t[] = {5};
	uint64_t model[NG] = {0};
	struct elog_raftjournal *j;
	struct elog_raftstate s;
	struct elog_err err;
	int created, found = 7;

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(elog_raftjournal_find(j, &groups[0], &s, &found, &err), &err);
	T_EQ_INT(found, 0);
	T_EQ_INT(s.hard.term, 0);
	T_EQ_INT(s.hard.vote, ELOG_RAFT_NONE);
	T_OK(put(j, g, t, 1, model, &err), &err);
	found = 7;
	T_OK(elog_raftjournal_find(j, &groups[2], &s, &found, &err), &err);
	T_EQ_INT(found, 0);
	T_EQ_INT(s.hard.term, 0);
	T_MATCHES(j, model);
	elog_raftjournal_close(j);
}

static void flip(uint8_t *buf, size_t at)
{
	buf[at] ^= 0x10;
}

/*
 * Every byte flipped, one at a time: each batch has two copies, so the
 * other is used and every state is as written, always. The one place the
 * file changes is copy 1 of the last batch: a bad copy with no good one
 * past it reads as a torn tail and is cut, copy 0 (the same records) kept.
 */
static void test_every_byte_flipped(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	T_EQ_INT(len, ends[4]);
	for (size_t at = 0; at < len; at++) {
		uint64_t want = at >= copy_at(4, 1) ? copy_at(4, 1) : len;
		char why[1024], m[256] = "";
		flip(orig, at);
		T_ASSERT(spit(dir, orig, len) == 0);
		flip(orig, at);
		if (elog_raftjournal_open(dir, &j, &created, &err) < 0) {
			snprintf(why, sizeof(why), "byte %zu flipped: refused: %s", at, err.msg);
			t_fail(__FILE__, __LINE__, why);
			continue;
		}
		if (!matches(j, models[4], m, sizeof(m))) {
			snprintf(why, sizeof(why), "byte %zu flipped: %s", at, m);
			t_fail(__FILE__, __LINE__, why);
		} else if (elog_raftjournal_size(j) != want || disk_size(dir) != (long long)want) {
			snprintf(why, sizeof(why), "byte %zu flipped: size %llu (disk %lld), want %llu",
				 at, (unsigned long long)elog_raftjournal_size(j), disk_size(dir),
				 (unsigned long long)want);
			t_fail(__FILE__, __LINE__, why);
		}
		elog_raftjournal_close(j);
	}
	free(orig);
}

/*
 * Two copies damaged: of different batches, nothing is lost; both of one
 * batch, the file is refused (and left as it was) unless it is the last
 * batch, which is then a torn tail (indistinguishable from one).
 */
static void test_two_copies_damaged(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig, *back, *dam;
	size_t len, blen;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	T_ASSERT((dam = malloc(len)) != NULL);
	for (int x = 0; x < 8; x++)
		for (int y = x + 1; y < 8; y++) {
			int bx = x / 2 + 1, by = y / 2 + 1;
			size_t ax = copy_at(bx, x % 2) + ELOG_RAFTJOURNAL_HEAD_BYTES + copy_len(bx) / 3;
			size_t ay = copy_at(by, y % 2) + 2; /* the magic */
			char why[1024], m[256] = "";
			memcpy(dam, orig, len);
			flip(dam, ax);
			flip(dam, ay);
			T_ASSERT(spit(dir, dam, len) == 0);
			if (bx == by && bx < 4) {
				if (elog_raftjournal_open(dir, &j, &created, &err) == 0) {
					elog_raftjournal_close(j);
					snprintf(why, sizeof(why), "copies %d and %d: opened", x, y);
					t_fail(__FILE__, __LINE__, why);
					continue;
				}
				T_EQ_INT(err.code, ELOG_E_CORRUPT);
				T_CHECK(strstr(err.msg, ELOG_RAFTJOURNAL_NAME ": damaged") != NULL);
				T_ASSERT((back = slurp(dir, &blen)) != NULL);
				T_CHECK(blen == len && memcmp(back, dam, len) == 0);
				free(back);
				continue;
			}
			if (elog_raftjournal_open(dir, &j, &created, &err) < 0) {
				snprintf(why, sizeof(why), "copies %d and %d: refused: %s", x, y, err.msg);
				t_fail(__FILE__, __LINE__, why);
				continue;
			}
			if (bx == by) { /* both copies of the last batch: torn */
				if (!matches(j, models[3], m, sizeof(m)) ||
				    elog_raftjournal_size(j) != ends[3] ||
				    disk_size(dir) != (long long)ends[3]) {
					snprintf(why, sizeof(why), "the last batch lost: %s", m);
					t_fail(__FILE__, __LINE__, why);
				}
			} else if (!matches(j, models[4], m, sizeof(m)) ||
				   elog_raftjournal_size(j) != (y == 7 ? copy_at(4, 1) : len)) {
				snprintf(why, sizeof(why), "copies %d and %d: %s (size %llu)", x, y, m,
					 (unsigned long long)elog_raftjournal_size(j));
				t_fail(__FILE__, __LINE__, why);
			}
			elog_raftjournal_close(j);
		}
	free(dam);
	free(orig);
}

/* Both copies of the first batch, of a middle one: refused, naming why. */
static void test_batch_lost_refused(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j = NULL;
	struct elog_err err;
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	/* the first: what follows is not a first batch */
	orig[copy_at(1, 0) + 40] ^= 1;
	orig[copy_at(1, 1) + 40] ^= 1;
	T_ASSERT(spit(dir, orig, len) == 0);
	T_ASSERT(elog_raftjournal_open(dir, &j, &created, &err) == -1);
	T_CHECK(j == NULL);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_CHECK(strstr(err.msg, "first batch is lost") != NULL);
	T_EQ_INT(disk_size(dir), len);
	orig[copy_at(1, 0) + 40] ^= 1;
	orig[copy_at(1, 1) + 40] ^= 1;
	/* the second: batch 3 does not follow batch 1 */
	memset(orig + copy_at(2, 0), 0, copy_len(2) * 2);
	T_ASSERT(spit(dir, orig, len) == 0);
	T_ASSERT(elog_raftjournal_open(dir, &j, &created, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_CHECK(strstr(err.msg, "batch 2 lost") != NULL);
	T_EQ_INT(disk_size(dir), len);
	free(orig);
}

/*
 * A crash while the last batch was written: cut anywhere in it, the file
 * opens with the batch before (copy 0 torn) or the last (copy 0 whole),
 * never anything else; the torn bytes are cut off, and the next batch
 * lands after what was kept.
 */
static void test_torn_tails(void)
{
	const char *dir = t_tmpdir();
	static const int g[] = {5};
	static const uint64_t t[] = {99};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	for (size_t cut = (size_t)ends[3]; cut <= len; cut++) {
		int whole = cut >= copy_at(4, 1);
		uint64_t keep = cut == len ? len : whole ? copy_at(4, 1) : ends[3];
		uint64_t model[NG];
		char why[1024], m[256] = "";
		T_ASSERT(spit(dir, orig, cut) == 0);
		memcpy(model, models[whole ? 4 : 3], sizeof(model));
		if (elog_raftjournal_open(dir, &j, &created, &err) < 0) {
			snprintf(why, sizeof(why), "cut at %zu: refused: %s", cut, err.msg);
			t_fail(__FILE__, __LINE__, why);
			continue;
		}
		if (!matches(j, model, m, sizeof(m)) || elog_raftjournal_size(j) != keep ||
		    disk_size(dir) != (long long)keep) {
			snprintf(why, sizeof(why), "cut at %zu: %s, size %llu, disk %lld, want %llu",
				 cut, m, (unsigned long long)elog_raftjournal_size(j), disk_size(dir),
				 (unsigned long long)keep);
			t_fail(__FILE__, __LINE__, why);
		}
		if (put(j, g, t, 1, model, &err) < 0) {
			elog_raftjournal_close(j);
			t_fail(__FILE__, __LINE__, err.msg);
			continue;
		}
		elog_raftjournal_close(j);
		if (elog_raftjournal_open(dir, &j, &created, &err) < 0) {
			snprintf(why, sizeof(why), "cut at %zu, appended: refused: %s", cut, err.msg);
			t_fail(__FILE__, __LINE__, why);
			continue;
		}
		if (!matches(j, model, m, sizeof(m)) ||
		    elog_raftjournal_size(j) != keep + 2 * (ELOG_RAFTJOURNAL_HEAD_BYTES + rec_bytes(5, 99))) {
			snprintf(why, sizeof(why), "cut at %zu, appended: %s", cut, m);
			t_fail(__FILE__, __LINE__, why);
		}
		elog_raftjournal_close(j);
	}
	free(orig);
}

/* A crash in a new file's first batch: empty again, and the next batch is a first. */
static void test_torn_first_batch(void)
{
	const char *dir = t_tmpdir();
	static const int g[] = {0, 3};
	static const uint64_t t[] = {3, 4};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	for (size_t cut = 1; cut < copy_at(1, 1); cut += 7) {
		uint64_t model[NG] = {0};
		T_ASSERT(spit(dir, orig, cut) == 0);
		T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
		T_EQ_INT(created, 0);
		T_EQ_INT(elog_raftjournal_size(j), 0);
		T_EQ_INT(disk_size(dir), 0);
		T_MATCHES(j, model);
		T_PUT_REOPENED(dir, j, g, t, 2, model);
	}
	free(orig);
}

/* Zeros or garbage past the last batch (a crash that kept the size, not
 * the bytes; a header torn after its magic): a torn tail, cut. */
static void test_garbage_after_last(void)
{
	const char *dir = t_tmpdir();
	static const int g[] = {2};
	static const uint64_t t[] = {77};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig, *buf;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	T_ASSERT((buf = malloc(len + 8192)) != NULL);
	for (int kind = 0; kind < 6; kind++) {
		size_t extra = 0;
		uint64_t model[NG];
		memcpy(buf, orig, len);
		switch (kind) {
		case 0: extra = 1; memset(buf + len, 0, extra); break;
		case 1: extra = 8192; memset(buf + len, 0, extra); break;
		case 2: extra = 100; memset(buf + len, 0xa5, extra); break;
		case 3: extra = 40; memcpy(buf + len, orig + copy_at(4, 0), extra); break;
		case 4: /* a copy but its last byte */
			extra = copy_len(4) - 1;
			memcpy(buf + len, orig + copy_at(4, 0), extra);
			break;
		case 5: /* a header whose length runs past the end */
			extra = ELOG_RAFTJOURNAL_HEAD_BYTES + 3;
			memcpy(buf + len, orig + copy_at(4, 1), extra);
			break;
		}
		T_ASSERT(spit(dir, buf, len + extra) == 0);
		T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
		T_MATCHES(j, models[4]);
		T_EQ_INT(elog_raftjournal_size(j), len);
		T_EQ_INT(disk_size(dir), len);
		memcpy(model, models[4], sizeof(model));
		T_PUT_REOPENED(dir, j, g, t, 1, model);
	}
	free(buf);
	free(orig);
}

/* A snapshot: one batch, both copies, every state as it was; and a first batch. */
static void test_compact(void)
{
	const char *dir = t_tmpdir();
	static const int g[] = {1};
	static const uint64_t t[] = {55};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint64_t model[NG];
	char tmp[4096];
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(elog_raftjournal_compact(j, &err), &err);
	T_EQ_INT(elog_raftjournal_size(j), snapshot_bytes(models[4]));
	T_EQ_INT(disk_size(dir), snapshot_bytes(models[4]));
	T_MATCHES(j, models[4]);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, ELOG_RAFTJOURNAL_NAME);
	T_CHECK(access(tmp, F_OK) < 0);
	elog_raftjournal_close(j);

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(created, 0);
	T_MATCHES(j, models[4]);
	/* a snapshot of a snapshot: the same */
	T_OK(elog_raftjournal_compact(j, &err), &err);
	T_EQ_INT(elog_raftjournal_size(j), snapshot_bytes(models[4]));
	memcpy(model, models[4], sizeof(model));
	T_OK(put(j, g, t, 1, model, &err), &err);
	elog_raftjournal_close(j);

	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	T_EQ_INT(len, snapshot_bytes(models[4]) + 2 * (ELOG_RAFTJOURNAL_HEAD_BYTES + rec_bytes(1, 55)));
	T_EQ_INT(orig[6], 1);
	T_EQ_INT(orig[(snapshot_bytes(models[4]) - 2 * ELOG_RAFTJOURNAL_HEAD_BYTES) / 2 + 6], 3);
	T_EQ_INT(orig[8], NG);
	/* either copy of the snapshot damaged: the other */
	for (int copy = 0; copy < 2; copy++) {
		size_t at = (size_t)copy * (snapshot_bytes(models[4]) - 2 * ELOG_RAFTJOURNAL_HEAD_BYTES) / 2 + 50;
		flip(orig, at);
		T_ASSERT(spit(dir, orig, len) == 0);
		flip(orig, at);
		T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
		T_MATCHES(j, model);
		T_EQ_INT(elog_raftjournal_size(j), len);
		elog_raftjournal_close(j);
	}
	free(orig);
}

/* An empty journal: a snapshot of nothing, a batch of nothing, both read back. */
static void test_empty(void)
{
	const char *dir = t_tmpdir();
	uint64_t model[NG] = {0};
	struct elog_raftjournal *j;
	struct elog_err err;
	int created;

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(elog_raftjournal_append(j, NULL, 0, &err), &err);
	T_EQ_INT(elog_raftjournal_size(j), 2 * ELOG_RAFTJOURNAL_HEAD_BYTES);
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(created, 0);
	T_EQ_INT(elog_raftjournal_size(j), 2 * ELOG_RAFTJOURNAL_HEAD_BYTES);
	T_MATCHES(j, model);
	T_OK(elog_raftjournal_compact(j, &err), &err);
	T_EQ_INT(elog_raftjournal_size(j), snapshot_bytes(model));
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_MATCHES(j, model);
	T_EQ_INT(elog_raftjournal_size(j), snapshot_bytes(model));
	elog_raftjournal_close(j);
}

/* A forgotten group: gone at once, and from the next snapshot; until a
 * snapshot the file still holds it, and a reopen finds it again. */
static void test_forget(void)
{
	const char *dir = t_tmpdir();
	static const struct elog_raftwire_group nobody = {"nobody", 6, 1, 1};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint64_t model[NG];
	int created;

	T_OK(build(dir, &err), &err);
	memcpy(model, models[4], sizeof(model));
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	elog_raftjournal_forget(j, &nobody);
	elog_raftjournal_forget(j, &groups[2]);
	model[2] = 0;
	T_MATCHES(j, model); /* incarnation 1 of orders/0 still there */
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_MATCHES(j, models[4]);
	elog_raftjournal_forget(j, &groups[2]);
	elog_raftjournal_forget(j, &groups[0]);
	model[0] = 0;
	T_OK(elog_raftjournal_compact(j, &err), &err);
	T_EQ_INT(elog_raftjournal_size(j), snapshot_bytes(model));
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_MATCHES(j, model);
	elog_raftjournal_close(j);
}

/*
 * The file grows past ELOG_RAFTJOURNAL_COMPACT_MIN: the append that takes
 * it there writes a snapshot instead, and the states read back are the
 * latest (batches of 40 records of one group, the last of each winning).
 */
static void test_auto_compact(void)
{
	const char *dir = t_tmpdir();
	static const int g0[] = {0};
	static const uint64_t t0[] = {5};
	int g[40];
	uint64_t t[40], model[NG] = {0};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint64_t prev = 0;
	int created, compacted = 0, n;

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(put(j, g0, t0, 1, model, &err), &err);
	for (n = 0; n < 1000 && !compacted; n++) {
		for (int i = 0; i < 40; i++) {
			g[i] = 4;
			t[i] = 1000 + (uint64_t)n * 40 + (uint64_t)i;
		}
		prev = elog_raftjournal_size(j);
		if (put(j, g, t, 40, model, &err) < 0) {
			elog_raftjournal_close(j);
			T_OK(-1, &err);
		}
		compacted = elog_raftjournal_size(j) < prev;
	}
	T_CHECK(compacted);
	T_CHECK(prev <= ELOG_RAFTJOURNAL_COMPACT_MIN);
	T_CHECK(prev + 2 * (ELOG_RAFTJOURNAL_HEAD_BYTES + 40 * rec_bytes(4, t[39])) >
		ELOG_RAFTJOURNAL_COMPACT_MIN);
	T_EQ_INT(model[4], t[39]);
	T_EQ_INT(elog_raftjournal_size(j), snapshot_bytes(model));
	T_EQ_INT(disk_size(dir), snapshot_bytes(model));
	T_MATCHES(j, model);
	elog_raftjournal_close(j);

	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_MATCHES(j, model);
	t[0] = 5000;
	T_OK(put(j, g, t, 1, model, &err), &err);
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_MATCHES(j, model);
	T_EQ_INT(elog_raftjournal_size(j),
		 snapshot_bytes(model) + 2 * (ELOG_RAFTJOURNAL_HEAD_BYTES + rec_bytes(4, 5000)));
	elog_raftjournal_close(j);
}

/* Set the CRC of the copy at p again, after its bytes were changed. */
static void recrc(uint8_t *p)
{
	uint32_t len = (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 |
		       (uint32_t)p[15] << 24;
	uint32_t crc = elog_crc32c(elog_crc32c(0, p, 24), p + ELOG_RAFTJOURNAL_HEAD_BYTES, len);

	for (int i = 0; i < 4; i++)
		p[24 + i] = (uint8_t)(crc >> (8 * i));
}

/*
 * A batch that checks but whose records do not fill it exactly, or that
 * holds a negative incarnation (a broken writer, not a flipped byte):
 * refused, both copies saying the same.
 */
static void test_bad_records_refused(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j = NULL;
	struct elog_err err;
	uint8_t *orig, *buf;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	T_ASSERT((buf = malloc(len)) != NULL);
	for (int kind = 0; kind < 3; kind++) {
		memcpy(buf, orig, len);
		for (int copy = 0; copy < 2; copy++) {
			uint8_t *p = buf + copy_at(2, copy);
			if (kind == 0)
				p[8]++;                  /* one record more than it holds */
			else if (kind == 1)
				p[8]--;                  /* bytes left past the last one */
			else                             /* orders/0's incarnation < 0 */
				p[ELOG_RAFTJOURNAL_HEAD_BYTES + 2 + 6 + 4 + 7] |= 0x80;
			recrc(p);
		}
		T_ASSERT(spit(dir, buf, len) == 0);
		T_ASSERT(elog_raftjournal_open(dir, &j, &created, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_CORRUPT);
		T_CHECK(strstr(err.msg, "batch 2 does not hold the records it counts") != NULL);
		T_EQ_INT(disk_size(dir), len);
	}
	free(buf);
	free(orig);
}

/* The journal's hash of a group (raftjournal.c, key_hash): to make two
 * groups that share one, told apart only by the key itself. */
static uint32_t hash_of(const struct elog_raftwire_group *id)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < id->topic_len; i++)
		h = (h ^ (uint8_t)id->topic[i]) * 16777619u;
	h = (h ^ id->partition) * 16777619u;
	h = (h ^ (uint32_t)id->incarnation) * 16777619u;
	return (h ^ (uint32_t)((uint64_t)id->incarnation >> 32)) * 16777619u;
}

/* Two incarnations of one partition with the same hash: two records. */
static void test_hash_collision(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftwire_group a = {"orders", 6, 0, 1}, b = a;
	struct elog_raftjournal_entry e[2];
	struct elog_raftstate sa, sb, back;
	struct elog_raftjournal *j;
	struct elog_err err;
	uint32_t x;
	int created, found;

	/* h = ((x ^ lo) * P ^ hi) * P, x the hash up to the partition: pick
	 * b's low half, then the high half that gives a's inner value. */
	x = 2166136261u;
	for (size_t i = 0; i < a.topic_len; i++)
		x = (x ^ (uint8_t)a.topic[i]) * 16777619u;
	x = (x ^ a.partition) * 16777619u;
	for (uint32_t lo = 2;; lo++) {
		uint32_t hi = ((x ^ 1u) * 16777619u) ^ ((x ^ lo) * 16777619u);
		if (hi < 0x80000000u) {
			b.incarnation = (int64_t)((uint64_t)hi << 32 | lo);
			break;
		}
	}
	T_ASSERT(hash_of(&a) == hash_of(&b) && a.incarnation != b.incarnation);
	mkstate(&sa, 3);
	mkstate(&sb, 4);
	e[0] = (struct elog_raftjournal_entry){&a, &sa};
	e[1] = (struct elog_raftjournal_entry){&b, &sb};
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(elog_raftjournal_append(j, e, 2, &err), &err);
	T_EQ_INT(elog_raftjournal_count(j), 2);
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(elog_raftjournal_count(j), 2);
	T_OK(elog_raftjournal_find(j, &a, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_EQ_INT(back.hard.term, 3);
	T_OK(elog_raftjournal_find(j, &b, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_EQ_INT(back.hard.term, 4);
	elog_raftjournal_forget(j, &b);
	T_OK(elog_raftjournal_find(j, &a, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_EQ_INT(back.hard.term, 3);
	elog_raftjournal_close(j);
}

/* A topic name of 65535 bytes is kept; one byte more is refused, nothing written. */
static void test_long_topic(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftwire_group big = {long_topic, 0xffff, 2, 3}, bigger = {long_topic, 0x10000, 2, 3};
	struct elog_raftstate s, back;
	struct elog_raftjournal_entry e = {&bigger, &s};
	struct elog_raftjournal *j;
	struct elog_err err;
	uint64_t size;
	int created, found;

	memset(long_topic, 'x', sizeof(long_topic));
	mkstate(&s, 8);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_ASSERT(elog_raftjournal_append(j, &e, 1, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	T_EQ_INT(elog_raftjournal_size(j), 0);
	T_EQ_INT(disk_size(dir), 0);
	e.id = &big;
	T_OK(elog_raftjournal_append(j, &e, 1, &err), &err);
	size = elog_raftjournal_size(j);
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(elog_raftjournal_size(j), size);
	T_OK(elog_raftjournal_find(j, &big, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_CHECK(elog_raftstate_equal(&s, &back));
	T_OK(elog_raftjournal_find(j, &bigger, &back, &found, &err), &err);
	T_EQ_INT(found, 0);
	elog_raftjournal_close(j);
}

/* A last batch written by a newer build (both copies): refused, never cut
 * as a torn tail. */
static void test_newer_version_refused(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	for (int copy = 0; copy < 2; copy++) {
		uint8_t *p = orig + copy_at(4, copy);
		p[4] = 2;
		recrc(p);
	}
	T_ASSERT(spit(dir, orig, len) == 0);
	T_CHECK(elog_raftjournal_open(dir, &j, &created, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_VERSION);
	T_EQ_INT(disk_size(dir), (long long)len);
	free(orig);
}

/* A snapshot's two copies both damaged: refused (the empty batch after it
 * says it was not the tail), never cut to an empty journal. */
static void test_snapshot_lost_refused(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig;
	size_t len, half;
	int created;

	T_OK(build(dir, &err), &err);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(elog_raftjournal_compact(j, &err), &err);
	elog_raftjournal_close(j);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	T_EQ_INT(len, snapshot_bytes(models[4]));
	half = (len - 2 * ELOG_RAFTJOURNAL_HEAD_BYTES) / 2;
	flip(orig, 40);
	flip(orig, half + 40);
	T_ASSERT(spit(dir, orig, len) == 0);
	T_CHECK(elog_raftjournal_open(dir, &j, &created, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_EQ_INT(disk_size(dir), (long long)len);
	free(orig);
}

/* forget_if: the records the predicate names go, the others stay. */
static int drop_orders_1(void *ctx, const struct elog_raftwire_group *id)
{
	(*(int *)ctx)++;
	return id->topic_len == 6 && memcmp(id->topic, "orders", 6) == 0 && id->incarnation == 1;
}

static void test_forget_if(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	uint64_t model[NG];
	int created, asked = 0;

	T_OK(build(dir, &err), &err);
	memcpy(model, models[4], sizeof(model));
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_EQ_INT(elog_raftjournal_forget_if(j, drop_orders_1, &asked), 2);
	T_EQ_INT(asked, NG);
	model[1] = model[3] = 0;
	T_MATCHES(j, model);
	T_OK(elog_raftjournal_compact(j, &err), &err);
	elog_raftjournal_close(j);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_MATCHES(j, model);
	elog_raftjournal_close(j);
}

/* The last two batches damaged in all four copies (their headers still
 * read): synced batches lost, not a torn write: refused, nothing cut. And
 * a whole snapshot file damaged the same way. */
static void test_tail_batches_lost_refused(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftjournal *j;
	struct elog_err err;
	uint8_t *orig;
	size_t len;
	int created;

	T_OK(build(dir, &err), &err);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	for (int b = 3; b <= 4; b++)
		for (int copy = 0; copy < 2; copy++)
			flip(orig, copy_at(b, copy) + ELOG_RAFTJOURNAL_HEAD_BYTES + 3);
	T_ASSERT(spit(dir, orig, len) == 0);
	T_CHECK(elog_raftjournal_open(dir, &j, &created, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_EQ_INT(disk_size(dir), (long long)len);
	free(orig);

	dir = t_tmpdir();
	T_OK(build(dir, &err), &err);
	T_OK(elog_raftjournal_open(dir, &j, &created, &err), &err);
	T_OK(elog_raftjournal_compact(j, &err), &err);
	elog_raftjournal_close(j);
	T_ASSERT((orig = slurp(dir, &len)) != NULL);
	/* every header kept (numbers readable), every copy spoilt: its first
	 * payload byte, or for the empty batch its CRC */
	for (size_t at = 0; at + ELOG_RAFTJOURNAL_HEAD_BYTES <= len;) {
		size_t n = (size_t)orig[at + 12] | (size_t)orig[at + 13] << 8;
		T_ASSERT(memcmp(orig + at, "ERSJ", 4) == 0);
		orig[n ? at + ELOG_RAFTJOURNAL_HEAD_BYTES : at + 24] ^= 0x5a;
		at += ELOG_RAFTJOURNAL_HEAD_BYTES + n;
	}
	T_ASSERT(spit(dir, orig, len) == 0);
	T_CHECK(elog_raftjournal_open(dir, &j, &created, &err) == -1);
	T_EQ_INT(disk_size(dir), (long long)len);
	free(orig);
}

int main(void)
{
	T_RUN(test_round_trip);
	T_RUN(test_each);
	T_RUN(test_unknown_group);
	T_RUN(test_every_byte_flipped);
	T_RUN(test_two_copies_damaged);
	T_RUN(test_batch_lost_refused);
	T_RUN(test_torn_tails);
	T_RUN(test_torn_first_batch);
	T_RUN(test_garbage_after_last);
	T_RUN(test_compact);
	T_RUN(test_empty);
	T_RUN(test_forget);
	T_RUN(test_auto_compact);
	T_RUN(test_long_topic);
	T_RUN(test_bad_records_refused);
	T_RUN(test_hash_collision);
	T_RUN(test_newer_version_refused);
	T_RUN(test_snapshot_lost_refused);
	T_RUN(test_forget_if);
	T_RUN(test_tail_batches_lost_refused);
	return t_finish();
}
