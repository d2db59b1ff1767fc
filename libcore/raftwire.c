/* raftwire — the RAFT api's frames; see raftwire.h. */
#include "raftwire.h"

#include <assert.h>
#include <string.h>

#include "batch.h"

int elog_raftwire_open(struct elog_raftwire_reader *rd, const uint8_t *body, size_t len,
		       struct elog_err *err)
{
	memset(rd, 0, sizeof(*rd));
	elog_wire_r_init(&rd->r, body, len);
	elog_wire_r_field(&rd->r, "from");
	rd->from = elog_wire_get_i32(&rd->r);
	elog_wire_r_field(&rd->r, "to");
	rd->to = elog_wire_get_i32(&rd->r);
	elog_wire_r_field(&rd->r, "messages");
	rd->left = elog_wire_get_count(&rd->r, ELOG_RAFTWIRE_MSG_MIN_BYTES);
	if (rd->r.failed)
		return elog_wire_r_end(&rd->r, err);
	if (rd->from < 0 || rd->to < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "malformed broker id");
	return 0;
}

static void get_fields(struct elog_wire_r *r, struct elog_raftwire_msg *m)
{
	struct elog_raft_msg *x = &m->msg;

	switch (x->type) {
	case ELOG_RAFT_MSG_APPEND:
		elog_wire_r_field(r, "append");
		x->append.prev_end = elog_wire_get_i64(r);
		x->append.prev_term = elog_wire_get_u64(r);
		x->append.commit = elog_wire_get_i64(r);
		x->append.leader_start = elog_wire_get_i64(r);
		x->append.start_term = elog_wire_get_u64(r);
		elog_wire_r_field(r, "batches");
		elog_wire_get_bytes(r, &m->batches, &m->batches_len);
		break;
	case ELOG_RAFT_MSG_APPEND_RESP:
		elog_wire_r_field(r, "append_resp");
		x->append_resp.success = elog_wire_get_u8(r);
		x->append_resp.end = elog_wire_get_i64(r);
		x->append_resp.durable_end = elog_wire_get_i64(r);
		x->append_resp.commit = elog_wire_get_i64(r);
		x->append_resp.hint_term = elog_wire_get_u64(r);
		x->append_resp.hint_end = elog_wire_get_i64(r);
		break;
	case ELOG_RAFT_MSG_VOTE:
	case ELOG_RAFT_MSG_PREVOTE:
		elog_wire_r_field(r, "vote");
		x->vote.last_end = elog_wire_get_i64(r);
		x->vote.last_term = elog_wire_get_u64(r);
		x->vote.transfer = elog_wire_get_u8(r);
		break;
	case ELOG_RAFT_MSG_VOTE_RESP:
		elog_wire_r_field(r, "vote_resp");
		x->vote_resp.granted = elog_wire_get_u8(r);
		x->vote_resp.prevote = elog_wire_get_u8(r);
		break;
	case ELOG_RAFT_MSG_HEARTBEAT:
		elog_wire_r_field(r, "heartbeat");
		x->heartbeat.commit = elog_wire_get_i64(r);
		x->heartbeat.quiesce = elog_wire_get_u8(r);
		break;
	case ELOG_RAFT_MSG_HEARTBEAT_RESP:
		elog_wire_r_field(r, "heartbeat_resp");
		x->heartbeat_resp.durable_end = elog_wire_get_i64(r);
		x->heartbeat_resp.commit = elog_wire_get_i64(r);
		x->heartbeat_resp.wake = elog_wire_get_u8(r);
		break;
	case ELOG_RAFT_MSG_TIMEOUT_NOW:
		break;
	}
}

int elog_raftwire_next(struct elog_raftwire_reader *rd, struct elog_raftwire_msg *m,
		       struct elog_err *err)
{
	struct elog_wire_r *r = &rd->r;
	uint8_t type;

	memset(m, 0, sizeof(*m));
	if (rd->left == 0)
		return elog_wire_r_end(r, err) < 0 ? -1 : 0;
	rd->left--;
	elog_wire_r_field(r, "topic");
	elog_wire_get_string(r, &m->group.topic, &m->group.topic_len);
	elog_wire_r_field(r, "partition");
	m->group.partition = elog_wire_get_u32(r);
	elog_wire_r_field(r, "incarnation");
	m->group.incarnation = elog_wire_get_i64(r);
	elog_wire_r_field(r, "type");
	type = elog_wire_get_u8(r);
	elog_wire_r_field(r, "term");
	m->msg.term = elog_wire_get_u64(r);
	if (r->failed)
		return elog_wire_r_end(r, err);
	if (type != ELOG_RAFTWIRE_LEADER && type != ELOG_RAFTWIRE_HELLO &&
	    type != ELOG_RAFTWIRE_LEAVING && (type < ELOG_RAFT_MSG_APPEND || type > ELOG_RAFT_MSG_TIMEOUT_NOW))
		return elog_err_set(err, ELOG_E_CORRUPT, "malformed message type %u", type);
	m->msg.from = rd->from;
	m->msg.to = rd->to;
	if (type == ELOG_RAFTWIRE_LEADER) {
		m->leader_hint = 1;
		if (m->group.topic_len == 0)
			return elog_err_set(err, ELOG_E_CORRUPT, "leader hint for the metadata group");
	} else if (type == ELOG_RAFTWIRE_LEAVING) {
		m->leaving = 1;
		if (m->group.topic_len != 0 || m->msg.term != 0)
			return elog_err_set(err, ELOG_E_CORRUPT, "malformed leaving");
	} else if (type == ELOG_RAFTWIRE_HELLO) {
		const uint8_t *nonce, *mac;
		size_t nonce_len, mac_len;
		m->is_hello = 1;
		elog_wire_r_field(r, "hello");
		m->hello.unix_ms = elog_wire_get_u64(r);
		elog_wire_get_bytes(r, &nonce, &nonce_len);
		elog_wire_get_bytes(r, &mac, &mac_len);
		if (r->failed)
			return elog_wire_r_end(r, err);
		if (nonce_len != sizeof(m->hello.nonce) || mac_len != sizeof(m->hello.mac))
			return elog_err_set(err, ELOG_E_CORRUPT, "malformed hello");
		memcpy(m->hello.nonce, nonce, nonce_len);
		memcpy(m->hello.mac, mac, mac_len);
	} else {
		m->msg.type = (enum elog_raft_msg_type)type;
		get_fields(r, m);
	}
	if (r->failed)
		return elog_wire_r_end(r, err);
	if (m->group.topic_len == 0 && (m->group.partition != 0 || m->group.incarnation != 0))
		return elog_err_set(err, ELOG_E_CORRUPT, "malformed metadata group id");
	if (m->group.incarnation < 0)
		return elog_err_set(err, ELOG_E_CORRUPT, "malformed incarnation");
	return 1;
}

size_t elog_raftwire_begin(struct elog_wire_w *w, int32_t from, int32_t to, uint32_t seq)
{
	elog_wire_frame_begin(w, ELOG_API_RAFT, seq);
	elog_wire_put_i32(w, from);
	elog_wire_put_i32(w, to);
	return elog_wire_put_count(w, 0);
}

void elog_raftwire_put(struct elog_wire_w *w, const struct elog_raftwire_group *g,
		       const struct elog_raft_msg *m, const uint8_t *batches, size_t len)
{
	elog_wire_put_string(w, g->topic, g->topic_len);
	elog_wire_put_u32(w, g->partition);
	elog_wire_put_i64(w, g->incarnation);
	elog_wire_put_u8(w, (uint8_t)m->type);
	elog_wire_put_u64(w, m->term);
	switch (m->type) {
	case ELOG_RAFT_MSG_APPEND:
		elog_wire_put_i64(w, m->append.prev_end);
		elog_wire_put_u64(w, m->append.prev_term);
		elog_wire_put_i64(w, m->append.commit);
		elog_wire_put_i64(w, m->append.leader_start);
		elog_wire_put_u64(w, m->append.start_term);
		elog_wire_put_bytes(w, batches, len);
		break;
	case ELOG_RAFT_MSG_APPEND_RESP:
		elog_wire_put_u8(w, m->append_resp.success);
		elog_wire_put_i64(w, m->append_resp.end);
		elog_wire_put_i64(w, m->append_resp.durable_end);
		elog_wire_put_i64(w, m->append_resp.commit);
		elog_wire_put_u64(w, m->append_resp.hint_term);
		elog_wire_put_i64(w, m->append_resp.hint_end);
		break;
	case ELOG_RAFT_MSG_VOTE:
	case ELOG_RAFT_MSG_PREVOTE:
		elog_wire_put_i64(w, m->vote.last_end);
		elog_wire_put_u64(w, m->vote.last_term);
		elog_wire_put_u8(w, m->vote.transfer);
		break;
	case ELOG_RAFT_MSG_VOTE_RESP:
		elog_wire_put_u8(w, m->vote_resp.granted);
		elog_wire_put_u8(w, m->vote_resp.prevote);
		break;
	case ELOG_RAFT_MSG_HEARTBEAT:
		elog_wire_put_i64(w, m->heartbeat.commit);
		elog_wire_put_u8(w, m->heartbeat.quiesce);
		break;
	case ELOG_RAFT_MSG_HEARTBEAT_RESP:
		elog_wire_put_i64(w, m->heartbeat_resp.durable_end);
		elog_wire_put_i64(w, m->heartbeat_resp.commit);
		elog_wire_put_u8(w, m->heartbeat_resp.wake);
		break;
	case ELOG_RAFT_MSG_TIMEOUT_NOW:
		break;
	}
}

void elog_raftwire_put_hello(struct elog_wire_w *w, const struct elog_raftauth_hello *h)
{
	elog_wire_put_string(w, "", 0);
	elog_wire_put_u32(w, 0);
	elog_wire_put_i64(w, 0);
	elog_wire_put_u8(w, ELOG_RAFTWIRE_HELLO);
	elog_wire_put_u64(w, 0);
	elog_wire_put_u64(w, h->unix_ms);
	elog_wire_put_bytes(w, h->nonce, sizeof(h->nonce));
	elog_wire_put_bytes(w, h->mac, sizeof(h->mac));
}

void elog_raftwire_put_leader(struct elog_wire_w *w, const struct elog_raftwire_group *g,
			      uint64_t term)
{
	elog_wire_put_string(w, g->topic, g->topic_len);
	elog_wire_put_u32(w, g->partition);
	elog_wire_put_i64(w, g->incarnation);
	elog_wire_put_u8(w, ELOG_RAFTWIRE_LEADER);
	elog_wire_put_u64(w, term);
}

void elog_raftwire_put_leaving(struct elog_wire_w *w)
{
	elog_wire_put_string(w, "", 0);
	elog_wire_put_u32(w, 0);
	elog_wire_put_i64(w, 0);
	elog_wire_put_u8(w, ELOG_RAFTWIRE_LEAVING);
	elog_wire_put_u64(w, 0);
}

int elog_raftwire_batches(const uint8_t *p, size_t len, struct elog_raft_batch *out,
			  uint32_t cap, uint32_t *count, struct elog_err *err)
{
	size_t pos = 0;
	uint32_t n = 0;

	while (pos < len) {
		struct elog_batch_header h;
		if (n == cap)
			return elog_err_set(err, ELOG_E_LIMIT, "more than %u batches", cap);
		if (elog_batch_header_decode_as(p + pos, len - pos, ELOG_BATCH_OFFSETS_GAPS, &h, err) < 0)
			return elog_err_prefix(err, "batch %u", n);
		if (elog_batch_total_size(&h) > len - pos)
			return elog_err_set(err, ELOG_E_CORRUPT, "batch %u: %u bytes, %zu left", n,
					    elog_batch_total_size(&h), len - pos);
		if (h.base_offset < 0 || elog_batch_last_offset(&h) < h.base_offset ||
		    (n > 0 && h.base_offset != out[n - 1].last + 1))
			return elog_err_set(err, ELOG_E_CORRUPT, "batch %u: offset %lld does not follow",
					    n, (long long)h.base_offset);
		out[n].base = h.base_offset;
		out[n].last = elog_batch_last_offset(&h);
		out[n].term = h.leader_term;
		n++;
		pos += elog_batch_total_size(&h);
	}
	*count = n;
	return 0;
}
