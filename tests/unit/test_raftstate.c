/* Unit tests: raftstate — raft.state round trip, every byte flipped, torn writes. */
#include <fcntl.h>
#include <sys/stat.h>

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
	fd = open(path, O_WRONLY | O_TRUNC);
	T_ASSERT(fd >= 0);
	close(fd);
	T_ASSERT(elog_raftstate_load(dir, &back, &found, &err) == -1);
}

/* The batched steps: until the rename the old state is what loads. */
static void test_file_in_steps(void)
{
	const char *dir = t_tmpdir();
	struct elog_raftstate s, back;
	struct elog_err err;
	int found;

	sample(&s);
	T_OK(elog_raftstate_store(dir, &s, &err), &err);
	s.hard.term = 11;
	s.hard.vote = 2;
	T_OK(elog_raftstate_store_unsynced(dir, &s, &err), &err);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(back.hard.term, 9);
	T_OK(elog_raftstate_syncfs(dir, &err), &err);
	T_OK(elog_raftstate_store_rename(dir, &err), &err);
	T_OK(elog_raftstate_syncfs(dir, &err), &err);
	T_OK(elog_raftstate_load(dir, &back, &found, &err), &err);
	T_EQ_INT(found, 1);
	T_CHECK(memcmp(&s, &back, sizeof(s)) == 0);
	/* nothing to rename: an error naming the file */
	T_ASSERT(elog_raftstate_store_rename(dir, &err) == -1);
	T_CHECK(strstr(err.msg, "raft.state.tmp") != NULL);
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
	return t_finish();
}
