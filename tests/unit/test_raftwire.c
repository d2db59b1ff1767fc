/* Unit tests: raftwire — RAFT frames: every message type round trips, every
 * truncation and a bad type are refused, batch descriptors, leader hints. */
#include "batch.h"
#include "bytes.h"
#include "buf.h"
#include "raftwire.h"
#include "t.h"

static struct elog_raft_msg msgs[8];
static const struct elog_raftwire_group groups[2] = {
	{"", 0, 0, 0},
	{"orders", 6, 3, 4096},
};

static void fill(void)
{
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 8; i++) {
		msgs[i].type = (enum elog_raft_msg_type)(i + 1);
		msgs[i].from = 1;
		msgs[i].to = 2;
		msgs[i].term = 100 + (uint64_t)i;
	}
	msgs[0].append = (struct elog_raft_append){10, 7, 9, 2, 6, NULL, 0};
	msgs[1].append_resp = (struct elog_raft_append_resp){1, 20, 19, 18, 5, 17};
	msgs[2].vote = (struct elog_raft_vote){30, 9, 1};
	msgs[3].vote = (struct elog_raft_vote){31, 8, 0};
	msgs[4].vote_resp = (struct elog_raft_vote_resp){1, 1};
	msgs[5].heartbeat = (struct elog_raft_heartbeat){40, 1};
	msgs[6].heartbeat_resp = (struct elog_raft_heartbeat_resp){41, 42, 1};
}

static void encode(struct elog_buf *buf, const uint8_t *batches, size_t blen)
{
	struct elog_wire_w w;
	struct elog_err err;
	size_t pos;

	elog_buf_init(buf, 1u << 20);
	elog_wire_w_init(&w, buf);
	pos = elog_raftwire_begin(&w, 1, 2, 77);
	for (int i = 0; i < 8; i++)
		elog_raftwire_put(&w, &groups[i % 2], &msgs[i], batches, blen);
	elog_wire_patch_count(&w, pos, 8);
	if (elog_wire_frame_end(&w, &err) < 0)
		abort();
}

static void test_round_trip(void)
{
	struct elog_raftwire_reader rd;
	struct elog_raftwire_msg m;
	struct elog_buf buf;
	struct elog_err err;
	const uint8_t batches[3] = {1, 2, 3};

	fill();
	encode(&buf, batches, 3);
	T_EQ_INT(elog_get16(buf.data + 4), ELOG_API_RAFT);
	T_OK(elog_raftwire_open(&rd, buf.data + 12, buf.len - 12, &err), &err);
	T_EQ_INT(rd.from, 1);
	T_EQ_INT(rd.to, 2);
	for (int i = 0; i < 8; i++) {
		T_ASSERT(elog_raftwire_next(&rd, &m, &err) == 1);
		T_EQ_INT(m.group.topic_len, groups[i % 2].topic_len);
		T_EQ_INT(m.group.incarnation, groups[i % 2].incarnation);
		T_EQ_INT(m.group.partition, groups[i % 2].partition);
		T_CHECK(memcmp(&m.msg, &msgs[i], sizeof(m.msg)) == 0);
		if (i == 0) {
			T_EQ_INT(m.batches_len, 3);
			T_CHECK(memcmp(m.batches, batches, 3) == 0);
		}
	}
	T_EQ_INT(elog_raftwire_next(&rd, &m, &err), 0);
	elog_buf_release(&buf);
}

static void test_truncated_and_bad(void)
{
	struct elog_raftwire_reader rd;
	struct elog_raftwire_msg m;
	struct elog_buf buf;
	struct elog_err err;
	int rc = 0;

	fill();
	encode(&buf, NULL, 0);
	/* Every prefix of the body fails somewhere, never reads past it. */
	for (size_t n = 0; n < buf.len - 12; n++) {
		if (elog_raftwire_open(&rd, buf.data + 12, n, &err) < 0)
			continue;
		while ((rc = elog_raftwire_next(&rd, &m, &err)) == 1)
			;
		T_ASSERT(rc == -1);
	}
	/* A message type past TIMEOUT_NOW. */
	buf.data[12 + 12 + 2 + 4 + 8] = 9;
	T_OK(elog_raftwire_open(&rd, buf.data + 12, buf.len - 12, &err), &err);
	T_EQ_INT(elog_raftwire_next(&rd, &m, &err), -1);
	T_CHECK(strstr(err.msg, "message type 9") != NULL);
	/* A negative broker id. */
	buf.data[12] = 0xff, buf.data[13] = 0xff, buf.data[14] = 0xff, buf.data[15] = 0xff;
	T_EQ_INT(elog_raftwire_open(&rd, buf.data + 12, buf.len - 12, &err), -1);
	elog_buf_release(&buf);
}

/* A leader hint round trips and is told from Raft messages; one for the
 * metadata group is refused (every broker holds a replica of it). */
static void test_leader_hint(void)
{
	struct elog_raftwire_reader rd;
	struct elog_raftwire_msg m;
	struct elog_wire_w w;
	struct elog_buf buf;
	struct elog_err err;
	size_t pos;

	fill();
	elog_buf_init(&buf, 1u << 20);
	elog_wire_w_init(&w, &buf);
	pos = elog_raftwire_begin(&w, 3, 1, 5);
	elog_raftwire_put_leader(&w, &groups[1], 42);
	elog_raftwire_put(&w, &groups[1], &msgs[5], NULL, 0);
	elog_raftwire_put_leader(&w, &groups[0], 7);
	elog_wire_patch_count(&w, pos, 3);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	T_OK(elog_raftwire_open(&rd, buf.data + 12, buf.len - 12, &err), &err);
	T_ASSERT(elog_raftwire_next(&rd, &m, &err) == 1);
	T_CHECK(m.leader_hint);
	T_EQ_INT(m.msg.from, 3);
	T_EQ_INT(m.msg.term, 42);
	T_EQ_INT(m.msg.type, 0);
	T_EQ_INT(m.group.partition, 3);
	T_EQ_INT(m.group.incarnation, 4096);
	T_ASSERT(elog_raftwire_next(&rd, &m, &err) == 1);
	T_CHECK(!m.leader_hint);
	T_EQ_INT(m.msg.type, ELOG_RAFT_MSG_HEARTBEAT);
	T_EQ_INT(elog_raftwire_next(&rd, &m, &err), -1);
	T_CHECK(strstr(err.msg, "metadata group") != NULL);
	elog_buf_release(&buf);
}

/* LEAVING round trips, told from the rest; one naming a partition or a
 * term is refused. */
static void test_leaving(void)
{
	struct elog_raftwire_reader rd;
	struct elog_raftwire_msg m;
	struct elog_wire_w w;
	struct elog_buf buf;
	struct elog_err err;
	size_t pos;

	fill();
	elog_buf_init(&buf, 1u << 20);
	elog_wire_w_init(&w, &buf);
	pos = elog_raftwire_begin(&w, 2, 1, 9);
	elog_raftwire_put(&w, &groups[1], &msgs[5], NULL, 0);
	elog_raftwire_put_leaving(&w);
	elog_raftwire_put_leader(&w, &groups[1], 42);
	elog_wire_patch_count(&w, pos, 3);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	T_OK(elog_raftwire_open(&rd, buf.data + 12, buf.len - 12, &err), &err);
	T_ASSERT(elog_raftwire_next(&rd, &m, &err) == 1);
	T_CHECK(!m.leaving);
	T_ASSERT(elog_raftwire_next(&rd, &m, &err) == 1);
	T_CHECK(m.leaving && !m.leader_hint && !m.is_hello);
	T_EQ_INT(m.msg.from, 2);
	T_EQ_INT(m.msg.type, 0);
	T_ASSERT(elog_raftwire_next(&rd, &m, &err) == 1);
	T_CHECK(!m.leaving && m.leader_hint);
	T_EQ_INT(elog_raftwire_next(&rd, &m, &err), 0);

	/* The same message naming a partition, then with a term. */
	for (int bad = 0; bad < 2; bad++) {
		elog_buf_reset(&buf);
		elog_wire_w_init(&w, &buf);
		pos = elog_raftwire_begin(&w, 2, 1, 10);
		elog_wire_put_string(&w, bad ? "" : "t", bad ? 0 : 1);
		elog_wire_put_u32(&w, 0);
		elog_wire_put_i64(&w, 0);
		elog_wire_put_u8(&w, ELOG_RAFTWIRE_LEAVING);
		elog_wire_put_u64(&w, bad ? 5 : 0);
		elog_wire_patch_count(&w, pos, 1);
		T_OK(elog_wire_frame_end(&w, &err), &err);
		T_OK(elog_raftwire_open(&rd, buf.data + 12, buf.len - 12, &err), &err);
		T_EQ_INT(elog_raftwire_next(&rd, &m, &err), -1);
		T_CHECK(strstr(err.msg, "malformed leaving") != NULL);
	}
	elog_buf_release(&buf);
}

/* n batches of 2 records each, offsets from base, term 3. */
static void batches(struct elog_buf *out, int64_t base, int n)
{
	elog_buf_init(out, 1u << 20);
	for (int i = 0; i < n; i++) {
		struct elog_batch_builder b;
		struct elog_record r = {0};
		const uint8_t *p;
		size_t len;
		struct elog_err err;
		elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
		r.value = (const uint8_t *)"v";
		r.value_len = 1;
		r.key_len = -1;
		if (elog_batch_builder_add(&b, &r, &err) < 0 || elog_batch_builder_add(&b, &r, &err) < 0 ||
		    elog_batch_builder_finish(&b, &p, &len, &err) < 0 ||
		    elog_buf_add(out, p, len, &err) < 0)
			abort();
		elog_batch_assign(out->data + out->len - len, base + 2 * i, 3);
		elog_batch_builder_release(&b);
	}
}

static void test_batch_descriptors(void)
{
	struct elog_raft_batch d[4];
	struct elog_buf b;
	struct elog_err err;
	uint32_t n = 0;

	batches(&b, 10, 3);
	T_OK(elog_raftwire_batches(b.data, b.len, d, 4, &n, &err), &err);
	T_EQ_INT(n, 3);
	T_EQ_INT(d[0].base, 10);
	T_EQ_INT(d[2].last, 15);
	T_EQ_INT(d[1].term, 3);
	T_EQ_INT(elog_raftwire_batches(b.data, b.len, d, 2, &n, &err), -1); /* cap */
	T_EQ_INT(elog_raftwire_batches(b.data, b.len - 1, d, 4, &n, &err), -1); /* torn */
	elog_batch_assign(b.data + b.len / 3, 99, 3); /* a gap in the middle */
	T_EQ_INT(elog_raftwire_batches(b.data, b.len, d, 4, &n, &err), -1);
	T_CHECK(strstr(err.msg, "does not follow") != NULL);
	T_OK(elog_raftwire_batches(b.data, 0, d, 4, &n, &err), &err);
	T_EQ_INT(n, 0);
	elog_buf_release(&b);
}

int main(void)
{
	T_RUN(test_round_trip);
	T_RUN(test_truncated_and_bad);
	T_RUN(test_batch_descriptors);
	T_RUN(test_leader_hint);
	T_RUN(test_leaving);
	return t_finish();
}
