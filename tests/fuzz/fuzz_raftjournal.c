/*
 * fuzz_raftjournal — libFuzzer target for the raft.journal reader
 * (raftjournal.h).
 *
 * Each input is one byte, then a whole raft.journal, written into a
 * scratch directory ($TMPDIR, else /tmp; tmpfs makes the syncs free) and
 * opened. When the first byte is odd, every copy's CRC is set right first
 * (each header-shaped run of bytes, in order), so that the records and the
 * batch numbers are fuzzed past the CRC. A file that opens is checked:
 *   - every record each() gives is found by find(), which decodes it the
 *     same way elog_raftstate_decode does the bytes each() gave;
 *   - opening again (the torn tail now cut) gives the same records;
 *   - one more batch appended, the file opens again with that record and
 *     the others as they were.
 * A file that is refused must say why (ELOG_E_CORRUPT or ELOG_E_VERSION).
 *
 * With ELOG_FUZZ_SEEDS=<dir>, LLVMFuzzerInitialize writes journals made by
 * the writer there: batches of several groups (the metadata group, two
 * incarnations of one partition), and a snapshot followed by a batch.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "raftjournal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[4096];
static char path[4200];

struct rec {
	char *topic;
	size_t topic_len;
	uint32_t partition;
	int64_t incarnation;
	uint8_t *state;
	size_t len;
};

struct recs {
	struct rec *r;
	size_t n, cap;
	int nomem;
};

static void collect(void *ctx, const struct elog_raftwire_group *id, const uint8_t *state,
		    size_t len)
{
	struct recs *rs = ctx;
	struct rec *r;

	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct rec *p = realloc(rs->r, cap * sizeof(*p));
		if (!p) {
			rs->nomem = 1;
			return;
		}
		rs->r = p;
		rs->cap = cap;
	}
	r = &rs->r[rs->n];
	r->topic = malloc(id->topic_len + 1);
	r->state = malloc(len + 1);
	if (!r->topic || !r->state) {
		free(r->topic);
		free(r->state);
		rs->nomem = 1;
		return;
	}
	memcpy(r->topic, id->topic, id->topic_len);
	r->topic_len = id->topic_len;
	r->partition = id->partition;
	r->incarnation = id->incarnation;
	memcpy(r->state, state, len);
	r->len = len;
	rs->n++;
}

static void recs_release(struct recs *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->r[i].topic);
		free(rs->r[i].state);
	}
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

static int rec_cmp(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;
	size_t n = a->topic_len < b->topic_len ? a->topic_len : b->topic_len;
	int c = memcmp(a->topic, b->topic, n);

	if (c)
		return c;
	if (a->topic_len != b->topic_len)
		return a->topic_len < b->topic_len ? -1 : 1;
	if (a->partition != b->partition)
		return a->partition < b->partition ? -1 : 1;
	if (a->incarnation != b->incarnation)
		return a->incarnation < b->incarnation ? -1 : 1;
	return 0;
}

static int same_key(const struct rec *r, const struct elog_raftwire_group *id)
{
	return r->topic_len == id->topic_len && memcmp(r->topic, id->topic, id->topic_len) == 0 &&
	       r->partition == id->partition && r->incarnation == id->incarnation;
}

/* The records, sorted by key; every one found, decoded as its bytes are. */
static void records(struct elog_raftjournal *j, struct recs *rs)
{
	struct elog_err err, err2;

	memset(rs, 0, sizeof(*rs));
	elog_raftjournal_each(j, collect, rs);
	if (rs->nomem)
		abort();
	if (rs->n != elog_raftjournal_count(j))
		abort();
	if (rs->n)
		qsort(rs->r, rs->n, sizeof(rs->r[0]), rec_cmp);
	for (size_t i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];
		struct elog_raftwire_group id = {r->topic, r->topic_len, r->partition, r->incarnation};
		struct elog_raftstate a, b;
		int found, rc;
		if (i > 0 && rec_cmp(&rs->r[i - 1], r) == 0)
			abort(); /* one record per group */
		rc = elog_raftjournal_find(j, &id, &a, &found, &err);
		if ((rc == 0) != (found == 1))
			abort();
		if ((rc < 0) != (elog_raftstate_decode(r->state, r->len, &b, &err2) < 0))
			abort();
		if (rc == 0 && (!elog_raftstate_equal(&a, &b) || a.seq != b.seq))
			abort();
	}
}

static int recs_equal(const struct recs *a, const struct recs *b,
		      const struct elog_raftwire_group *except)
{
	size_t i = 0, k = 0;

	for (;;) {
		while (except && i < a->n && same_key(&a->r[i], except))
			i++;
		while (except && k < b->n && same_key(&b->r[k], except))
			k++;
		if (i == a->n || k == b->n)
			return i == a->n && k == b->n;
		if (rec_cmp(&a->r[i], &b->r[k]) != 0 || a->r[i].len != b->r[k].len ||
		    memcmp(a->r[i].state, b->r[k].state, a->r[i].len) != 0)
			return 0;
		i++;
		k++;
	}
}

static long long disk_size(void)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* Set every copy's CRC right, walking the bytes as the reader would. */
static void fix_crcs(uint8_t *p, size_t n)
{
	static const uint8_t magic[4] = {'E', 'R', 'S', 'J'};
	size_t at = 0;

	while (at + ELOG_RAFTJOURNAL_HEAD_BYTES <= n) {
		uint8_t *h = p + at;
		size_t len = (size_t)h[12] | (size_t)h[13] << 8 | (size_t)h[14] << 16 |
			     (size_t)h[15] << 24;
		uint32_t crc;
		if (memcmp(h, magic, 4) != 0 || len > n - at - ELOG_RAFTJOURNAL_HEAD_BYTES) {
			at++;
			continue;
		}
		crc = elog_crc32c(elog_crc32c(0, h, 24), h + ELOG_RAFTJOURNAL_HEAD_BYTES, len);
		for (int i = 0; i < 4; i++)
			h[24 + i] = (uint8_t)(crc >> (8 * i));
		at += ELOG_RAFTJOURNAL_HEAD_BYTES + len;
	}
}

static void write_input(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		abort();
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n <= 0)
			abort();
		data += n;
		size -= (size_t)n;
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct elog_raftwire_group mine = {"fuzz", 4, 7, 11};
	struct elog_raftjournal *j;
	struct elog_raftjournal_entry e;
	struct elog_raftstate s, back;
	struct recs first, again, after;
	struct elog_err err;
	int created, found;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		uint8_t *copy = malloc(size);
		if (!copy)
			abort();
		memcpy(copy, data + 1, size - 1);
		fix_crcs(copy, size - 1);
		write_input(copy, size - 1);
		free(copy);
	} else {
		write_input(data + 1, size - 1);
	}
	size--;
	if (elog_raftjournal_open(dir, &j, &created, &err) < 0) {
		if (err.code != ELOG_E_CORRUPT && err.code != ELOG_E_VERSION)
			abort();
		return 0;
	}
	if (created || elog_raftjournal_size(j) > size ||
	    disk_size() != (long long)elog_raftjournal_size(j))
		abort();
	records(j, &first);
	elog_raftjournal_close(j);

	/* what was kept reads the same */
	if (elog_raftjournal_open(dir, &j, &created, &err) < 0)
		abort();
	records(j, &again);
	if (!recs_equal(&first, &again, NULL))
		abort();

	/* and takes a batch after it */
	elog_raftstate_init(&s);
	s.hard.term = 5;
	s.hard.vote = 1;
	s.seq = 3;
	e.id = &mine;
	e.s = &s;
	if (elog_raftjournal_append(j, &e, 1, &err) < 0)
		abort();
	elog_raftjournal_close(j);
	if (elog_raftjournal_open(dir, &j, &created, &err) < 0)
		abort();
	if (elog_raftjournal_find(j, &mine, &back, &found, &err) < 0 || !found ||
	    !elog_raftstate_equal(&s, &back) || back.seq != s.seq)
		abort();
	records(j, &after);
	if (!recs_equal(&first, &after, &mine))
		abort();
	elog_raftjournal_close(j);
	recs_release(&first);
	recs_release(&again);
	recs_release(&after);
	return 0;
}

/* The journal in dir as a seed named name in seeds. */
static void seed(const char *seeds, const char *name)
{
	char out[4200];
	uint8_t buf[1 << 16];
	size_t n;
	FILE *in, *f;

	snprintf(out, sizeof(out), "%s/%s", seeds, name);
	if (!(in = fopen(path, "rb")))
		return;
	buf[0] = 1; /* the mode byte: CRCs set right (they are already) */
	n = fread(buf + 1, 1, sizeof(buf) - 1, in) + 1;
	fclose(in);
	if ((f = fopen(out, "wb"))) {
		fwrite(buf, 1, n, f);
		fclose(f);
	}
}

static void write_seeds(const char *seeds)
{
	static const struct elog_raftwire_group g[4] = {
		{"", 0, 0, 0}, {"orders", 6, 0, 1}, {"orders", 6, 0, 2}, {"payments", 8, 3, 7},
	};
	struct elog_raftjournal_entry e[4];
	struct elog_raftstate s[4];
	struct elog_raftjournal *j;
	struct elog_err err;
	int created;

	for (int i = 0; i < 4; i++) {
		elog_raftstate_init(&s[i]);
		s[i].hard.term = (uint64_t)i + 2;
		s[i].hard.vote = i % 3;
		s[i].commit = i * 10;
		s[i].seq = (uint64_t)i + 1;
		s[i].term_count = 2;
		s[i].terms[0] = (struct elog_raft_term_start){1, 0};
		s[i].terms[1] = (struct elog_raft_term_start){2, 5};
		e[i].id = &g[i];
		e[i].s = &s[i];
	}
	unlink(path);
	if (elog_raftjournal_open(dir, &j, &created, &err) < 0)
		return;
	elog_raftjournal_append(j, e, 4, &err);
	elog_raftjournal_append(j, e + 1, 2, &err);
	elog_raftjournal_append(j, e, 1, &err);
	seed(seeds, "seed-batches");
	elog_raftjournal_compact(j, &err);
	elog_raftjournal_append(j, e + 3, 1, &err);
	seed(seeds, "seed-snapshot");
	elog_raftjournal_close(j);
}

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("TMPDIR"), *seeds = getenv("ELOG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/fuzz_raftjournal-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/%s", dir, ELOG_RAFTJOURNAL_NAME);
	atexit(cleanup);
	if (seeds && *seeds)
		write_seeds(seeds);
	return 0;
}
