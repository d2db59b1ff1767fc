/*
 * fuzz_raftwire — libFuzzer target for the RAFT api's decoder (raftwire.h)
 * and the core's message checks behind it.
 *
 * Each input is a RAFT body. Every message it yields is encoded again and
 * must decode to the same fields and consume the same bytes (round trip);
 * LEADER hints and HELLOs round trip too (they never reach the core);
 * an APPEND's batch bytes go through elog_raftwire_batches, whose
 * descriptors must be contiguous; and every message is stepped into a
 * Raft core of three voters (as follower and, by a fresh init, in a small
 * log), which must return 0 or -1 without tripping an assert.
 *
 * With ELOG_FUZZ_SEEDS=<dir>, LLVMFuzzerInitialize writes a body holding
 * one message of every type (the APPEND with two real batches) into <dir>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "buf.h"
#include "proto.h"
#include "raft.h"
#include "raftwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct elog_raft_batch batches[ELOG_RAFT_APPEND_BATCHES_MAX];

static void step(struct elog_raftwire_msg *m)
{
	static const struct elog_raft_term_start terms[1] = {{1, 0}};
	struct elog_raft_config cfg;
	struct elog_raft_hard_state hs = {2, ELOG_RAFT_NONE, 0};
	struct elog_raft_log_view view = {0, 10, 10, terms, 1};
	static struct elog_raft r;
	static struct elog_raft_outbox out;
	struct elog_err err;
	uint32_t n = 0;

	elog_raft_config_default(&cfg);
	cfg.self = 2;
	cfg.voters[0] = 1;
	cfg.voters[1] = 2;
	cfg.voters[2] = 3;
	cfg.voter_count = 3;
	if (elog_raft_init(&r, &cfg, &hs, &view, 5, ELOG_RAFT_RESTRICT_NONE, &out, &err) < 0)
		abort();
	if (m->msg.type == ELOG_RAFT_MSG_APPEND) {
		if (elog_raftwire_batches(m->batches, m->batches_len, batches,
					  ELOG_RAFT_APPEND_BATCHES_MAX, &n, &err) < 0)
			return;
		for (uint32_t i = 1; i < n; i++)
			if (batches[i].base != batches[i - 1].last + 1)
				abort();
		m->msg.append.batches = batches;
		m->msg.append.batch_count = n;
	}
	m->msg.to = 2;
	if (m->msg.from == 2)
		m->msg.from = 1;
	(void)elog_raft_step(&r, &m->msg, &out, &err);
	elog_raft_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elog_raftwire_reader rd, back;
	struct elog_raftwire_msg m, m2;
	struct elog_buf buf;
	struct elog_wire_w w;
	struct elog_err err;
	int rc;

	if (elog_raftwire_open(&rd, data, size, &err) < 0)
		return 0;
	elog_buf_init(&buf, 1u << 24);
	while ((rc = elog_raftwire_next(&rd, &m, &err)) == 1) {
		size_t pos;
		elog_buf_reset(&buf);
		elog_wire_w_init(&w, &buf);
		pos = elog_raftwire_begin(&w, rd.from, rd.to, 0);
		if (m.leader_hint)
			elog_raftwire_put_leader(&w, &m.group, m.msg.term);
		else if (m.is_hello)
			elog_raftwire_put_hello(&w, &m.hello);
		else if (m.leaving)
			elog_raftwire_put_leaving(&w);
		else
			elog_raftwire_put(&w, &m.group, &m.msg, m.batches, m.batches_len);
		elog_wire_patch_count(&w, pos, 1);
		if (elog_wire_frame_end(&w, &err) < 0)
			abort();
		if (elog_raftwire_open(&back, buf.data + ELOG_FRAME_HEADER_SIZE,
				       buf.len - ELOG_FRAME_HEADER_SIZE, &err) < 0 ||
		    elog_raftwire_next(&back, &m2, &err) != 1 ||
		    elog_raftwire_next(&back, &m2, &err) != 0)
			abort();
		elog_raftwire_open(&back, buf.data + ELOG_FRAME_HEADER_SIZE,
				   buf.len - ELOG_FRAME_HEADER_SIZE, &err);
		elog_raftwire_next(&back, &m2, &err);
		if (m2.group.topic_len != m.group.topic_len ||
		    memcmp(m2.group.topic, m.group.topic, m.group.topic_len) != 0 ||
		    m2.group.partition != m.group.partition || m2.msg.type != m.msg.type ||
		    m2.msg.term != m.msg.term || m2.batches_len != m.batches_len ||
		    memcmp(&m2.msg, &m.msg, sizeof(m.msg)) != 0 || m2.leader_hint != m.leader_hint ||
		    m2.is_hello != m.is_hello || m2.leaving != m.leaving || memcmp(&m2.hello, &m.hello, sizeof(m.hello)) != 0)
			abort();
		if (m.leader_hint || m.is_hello || m.leaving)
			continue; /* the driver's own messages: no Raft core behind them */
		step(&m);
	}
	elog_buf_release(&buf);
	return 0;
}

/* Two batches at offsets 10..11 and 12..12, term 1. */
static void seed_batches(struct elog_buf *out)
{
	for (int i = 0; i < 2; i++) {
		struct elog_batch_builder b;
		struct elog_record r = {0};
		const uint8_t *p;
		size_t len;
		elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
		r.key_len = -1;
		r.value = (const uint8_t *)"v";
		r.value_len = 1;
		for (int k = 0; k < 2 - i; k++)
			if (elog_batch_builder_add(&b, &r, NULL) < 0)
				abort();
		if (elog_batch_builder_finish(&b, &p, &len, NULL) < 0 || elog_buf_add(out, p, len, NULL) < 0)
			abort();
		elog_batch_assign(out->data + out->len - len, 10 + 2 * i, 1);
		elog_batch_builder_release(&b);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ELOG_FUZZ_SEEDS");
	static const struct elog_raftwire_group g = {"t", 1, 0, 5};
	struct elog_buf buf, batches;
	struct elog_wire_w w;
	char path[4096];
	size_t pos;
	FILE *f;

	(void)argc;
	(void)argv;
	if (!dir || !*dir)
		return 0;
	elog_buf_init(&buf, 1u << 20);
	elog_buf_init(&batches, 1u << 20);
	seed_batches(&batches);
	elog_wire_w_init(&w, &buf);
	pos = elog_raftwire_begin(&w, 1, 2, 0);
	for (int t = ELOG_RAFT_MSG_APPEND; t <= ELOG_RAFT_MSG_TIMEOUT_NOW; t++) {
		struct elog_raft_msg m;
		memset(&m, 0, sizeof(m));
		m.type = (enum elog_raft_msg_type)t;
		m.from = 1;
		m.to = 2;
		m.term = 3;
		if (t == ELOG_RAFT_MSG_APPEND)
			m.append = (struct elog_raft_append){10, 1, 5, 0, 0, NULL, 0};
		elog_raftwire_put(&w, t % 2 ? &g : &(struct elog_raftwire_group){"", 0, 0, 0}, &m,
				  batches.data, t == ELOG_RAFT_MSG_APPEND ? batches.len : 0);
	}
	elog_wire_patch_count(&w, pos, ELOG_RAFT_MSG_TIMEOUT_NOW);
	if (elog_wire_frame_end(&w, NULL) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/seed-every-type", dir);
	f = fopen(path, "wb");
	if (f) {
		fwrite(buf.data + ELOG_FRAME_HEADER_SIZE, 1, buf.len - ELOG_FRAME_HEADER_SIZE, f);
		fclose(f);
	}
	elog_buf_release(&buf);
	elog_buf_release(&batches);
	return 0;
}
