/* Unit tests: raftstate — raft.state round trip, every byte flipped, torn writes. */
#include <fcntl.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "raftstate.h"
#include "t.h"

static void sample(struct elog_raftstate *s)
{
	elog_raftstate_init(s);
	s->hard.term = 9;
	s->hard.vote = 3;
	s->hard.restricted_term = 7;
	s->commit = 1234;
	s->flags = ELOG_RAFTSTATE_CLEAN;
	s->term_count = 3;
	s->terms[0] = (struct elog_raft_term_start){2, 0};
	s->terms[1] = (struct elog_raft_term_start){5, 100};
	s->terms[2] = (struct elog_raft_term_start){9, 1200};
}

static void test_round_trip(void)
{
	struct elog_raftstate s, back;
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];
	struct elog_err err;
	size_t len;

	sample(&s);
	len = elog_raftstate_encode(&s, buf, sizeof(buf));
	T_EQ_INT(len, ELOG_RAFTSTATE_HEAD_BYTES + 3 * 16 + 4);
	T_OK(elog_raftstate_decode(buf, len, &back, &err), &err);
	T_CHECK(memcmp(&s, &back, sizeof(s)) == 0);
	elog_raftstate_init(&s); /* a fresh group: no terms */
	len = elog_raftstate_encode(&s, buf, sizeof(buf));
	T_OK(elog_raftstate_decode(buf, len, &back, &err), &err);
	T_EQ_INT(back.hard.vote, ELOG_RAFT_NONE);
	T_EQ_INT(back.term_count, 0);
}

static void test_every_flipped_byte_refused(void)
{
	struct elog_raftstate s, back;
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];
	struct elog_err err;
	size_t len;

	sample(&s);
	len = elog_raftstate_encode(&s, buf, sizeof(buf));
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			T_CHECK(elog_raftstate_decode(buf, len, &back, &err) == -1);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	T_OK(elog_raftstate_decode(buf, len, &back, &err), &err);
}

static void test_torn_write_refused(void)
{
	struct elog_raftstate s, back;
	uint8_t buf[ELOG_RAFTSTATE_BYTES_MAX];
	struct elog_err err;
	size_t len;

	sample(&s);
	len = elog_raftstate_encode(&s, buf, sizeof(buf));
	for (size_t n = 0; n < len; n++) {
		T_ASSERT(elog_raftstate_decode(buf, n, &back, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_CORRUPT);
	}
	buf[5] = 2; /* a newer version: refused as such, before the crc */
	T_ASSERT(elog_raftstate_decode(buf, len, &back, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_VERSION);
}

static void test_file(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftstate s, back;
	struct elog_err err;
	char path[4096];
	int found = 7, fd;

	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 0);
	sample(&s);
	T_OK(elog_raftstate_store(dir, &s, &err), &err);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_CHECK(memcmp(&s, &back, sizeof(s)) == 0);
	s.hard.term = 10;
	T_OK(elog_raftstate_store(dir, &s, &err), &err);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(back.hard.term, 10);
	/* torn on disk: refused, naming the file */
	snprintf(path, sizeof(path), "%s/raft.state", dir);
	T_ASSERT(truncate(path, 20) == 0);
	T_ASSERT(elog_raftstate_load(dir, &back, &found, &err) == -1);
	T_CHECK(strstr(err.msg, "raft.state: ") != NULL);
	T_CHECK(strstr(err.msg, "torn") != NULL || strstr(err.msg, "not a raft state") != NULL);
	/* empty: made, and gone before the first copy was written: no state yet */
	fd = open(path, O_WRONLY | O_TRUNC);
	T_ASSERT(fd >= 0);
	close(fd);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 0);
	/* zeros only (copy 1's size kept by a crash, not its bytes): no state either */
	T_ASSERT(truncate(path, ELOG_RAFTSTATE_COPY_BYTES + 100) == 0);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 0);
}

static void flip(const char *dir, off_t at)
{
	char path[4096];
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/raft.state", dir);
	fd = open(path, O_RDWR);
	T_ASSERT(fd >= 0);
	T_ASSERT(pread(fd, &b, 1, at) == 1);
	b ^= 0x10;
	T_ASSERT(pwrite(fd, &b, 1, at) == 1);
	close(fd);
}

/* One damaged copy: the other (the same state at rest) is used, and said; both: refused. */
static void test_one_copy_damaged(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftstate s, back;
	struct elog_err err;
	int found;

	sample(&s);
	T_OK(elog_raftstate_store(dir, &s, &err), &err);
	s.hard.term = 12;
	T_OK(elog_raftstate_store(dir, &s, &err), &err);
	T_EQ_INT(s.seq, 2);
	for (int copy = 0; copy < 2; copy++) {
		flip(dir, (off_t)copy * ELOG_RAFTSTATE_COPY_BYTES + 10);
		T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
		T_EQ_INT(back.hard.term, 12);
		T_EQ_INT(back.copy_damaged, 1);
		if (copy == 0)
			flip(dir, 10); /* mended */
	}
	flip(dir, 10); /* now both */
	T_ASSERT(elog_raftstate_load(dir, &back, &found, &err) == -1);
	T_CHECK(strstr(err.msg, "raft.state: crc mismatch") != NULL);
}

/* A version 1 file (one copy, no sequence) loads, and the first write replaces it. */
static void test_version_1(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftstate s, back;
	uint8_t v1[ELOG_RAFTSTATE_BYTES_MAX], v2[ELOG_RAFTSTATE_BYTES_MAX];
	struct elog_err err;
	char path[4096];
	size_t len;
	int found, fd;

	sample(&s);
	len = elog_raftstate_encode(&s, v2, sizeof(v2));
	/* Version 1: the version-2 copy without its sequence (bytes 36-43). */
	memcpy(v1, v2, 36);
	v1[4] = 1;
	v1[5] = 0;
	memcpy(v1 + 36, v2 + 44, len - 4 - 44);
	len -= 8;
	{
		uint32_t crc = elog_crc32c(0, v1, len - 4);
		for (int i = 0; i < 4; i++)
			v1[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
	}
	snprintf(path, sizeof(path), "%s/raft.state", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_ASSERT(fd >= 0);
	T_ASSERT(write(fd, v1, len) == (ssize_t)len);
	close(fd);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_EQ_INT(back.seq, 0);
	T_CHECK(elog_raftstate_equal(&s, &back));
	T_EQ_INT(back.copy_damaged, 0);
	/* Only copy 1 written (a crash before copy 0): the new state, the v1 copy older. */
	back.hard.term = 20;
	back.seq = 1;
	T_OK(elog_raftstate_store_copy(dir, &back, 1, &err), &err);
	T_OK(elog_raftstate_load(dir, &s, &found, &err), &err);
	T_EQ_INT(s.hard.term, 20);
	T_EQ_INT(s.seq, 1);
	T_EQ_INT(s.copy_damaged, 0);
}

/*
 * The batched steps: copy 1 of the new state, then copy 0. Until copy 1
 * is written the old state loads; a copy 1 torn by a crash leaves the old
 * one too; once copy 1 is whole the new one loads (its sequence is higher).
 */
static void test_file_in_steps(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftstate s, back;
	struct elog_err err;
	char path[4096];
	int found, fd;

	sample(&s);
	T_OK(elog_raftstate_store(dir, &s, &err), &err);
	s.hard.term = 11;
	s.hard.vote = 2;
	s.seq++;
	T_OK(elog_raftstate_store_copy(dir, &s, 1, &err), &err);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(back.hard.term, 11);
	/* torn: only the first 30 bytes of copy 1 made it */
	snprintf(path, sizeof(path), "%s/raft.state", dir);
	fd = open(path, O_WRONLY);
	T_ASSERT(fd >= 0);
	T_ASSERT(pwrite(fd, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, ELOG_RAFTSTATE_COPY_BYTES + 30) == 16);
	close(fd);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(back.hard.term, 9);
	T_EQ_INT(back.copy_damaged, 1);
	T_OK(elog_raftstate_store_copy(dir, &s, 1, &err), &err);
	T_OK(elog_raftstate_syncfs(dir, &err), &err);
	T_OK(elog_raftstate_store_copy(dir, &s, 0, &err), &err);
	T_OK(elog_raftstate_syncfs(dir, &err), &err);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_EQ_INT(back.copy_damaged, 0);
	T_CHECK(memcmp(&s, &back, sizeof(s)) == 0);
}

/*
 * Equal states compare equal whatever their padding holds: the broker
 * built its state with a struct assignment (padding copied from a local)
 * and compared it with memcmp, so every group's raft.state was rewritten,
 * with fsyncs, at every start (19,000 groups: a minute).
 */
static void test_equal_ignores_padding(void)
{
	struct elog_raftstate a, b;
	struct elog_raft_hard_state hs;

	sample(&a);
	memset(&b, 0xa5, sizeof(b));
	memset(&hs, 0x5a, sizeof(hs));
	hs.term = 9;
	hs.vote = 3;
	hs.restricted_term = 7;
	b.hard = hs;
	b.commit = 1234;
	b.flags = ELOG_RAFTSTATE_CLEAN;
	b.term_count = 3;
	memcpy(b.terms, a.terms, 3 * sizeof(a.terms[0]));
	T_CHECK(elog_raftstate_equal(&a, &b));
	b.terms[2].start++;
	T_CHECK(!elog_raftstate_equal(&a, &b));
	b.terms[2].start--;
	b.hard.vote = 2;
	T_CHECK(!elog_raftstate_equal(&a, &b));
	b.hard.vote = 3;
	b.flags = 0;
	T_CHECK(!elog_raftstate_equal(&a, &b));
}

int main(void)
{
	T_RUN(test_round_trip);
	T_RUN(test_equal_ignores_padding);
	T_RUN(test_every_flipped_byte_refused);
	T_RUN(test_torn_write_refused);
	T_RUN(test_file);
	T_RUN(test_file_in_steps);
	T_RUN(test_one_copy_damaged);
	T_RUN(test_version_1);
	return t_finish();
}
