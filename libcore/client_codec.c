/* client_codec — FETCH and PRODUCE bodies as docs/protocol.md lays them out; see client_int.h. */
#include "client.h"
#include "client_int.h"

#include <string.h>

/*
 * FETCH request:
 *   u32 max_wait_ms, u32 min_bytes, u32 max_bytes,
 *   array<topic>: string name, array<partition>: u32 id, i64 offset, u32 max_bytes
 * Consecutive parts with the same topic share one topic entry.
 */
void elog_encode_fetch(struct elog_wire_w *w, uint32_t max_wait_ms, uint32_t min_bytes,
		       uint32_t max_bytes, const struct elog_fetch_request_part *parts, size_t n)
{
	uint32_t topics = 0;
	size_t topics_pos;

	elog_wire_put_u32(w, max_wait_ms);
	elog_wire_put_u32(w, min_bytes);
	elog_wire_put_u32(w, max_bytes);
	topics_pos = elog_wire_put_count(w, 0);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && strcmp(parts[j].topic, parts[i].topic) == 0)
			j++;
		elog_wire_put_cstring(w, parts[i].topic);
		elog_wire_put_u32(w, (uint32_t)(j - i));
		for (size_t k = i; k < j; k++) {
			elog_wire_put_u32(w, parts[k].partition);
			elog_wire_put_i64(w, parts[k].offset);
			elog_wire_put_u32(w, parts[k].max_bytes);
		}
		topics++;
		i = j;
	}
	elog_wire_patch_count(w, topics_pos, topics);
}

/*
 * FETCH response (after error_code, error_message):
 *   array<topic>: string name,
 *     array<result>: u32 id, i16 error_code, string error_message,
 *                    i64 high_watermark, i64 log_start_offset, bytes batches
 */
int elog_fetch_response_walk(struct elog_wire_r *r, elog_fetch_result_fn *fn, void *ctx,
			     struct elog_err *err)
{
	uint32_t tn;

	elog_wire_r_field(r, "topics");
	tn = elog_wire_get_count(r, 2 + 4);
	for (uint32_t t = 0; t < tn && !r->failed; t++) {
		struct elog_fetch_result res;
		uint32_t rn;

		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &res.topic, &res.topic_len);
		elog_wire_r_field(r, "results");
		rn = elog_wire_get_count(r, 4 + 2 + 2 + 8 + 8 + 4);
		for (uint32_t k = 0; k < rn && !r->failed; k++) {
			elog_wire_r_field(r, "partition");
			res.partition = elog_wire_get_u32(r);
			elog_wire_r_field(r, "error_code");
			res.error = elog_wire_get_i16(r);
			elog_wire_r_field(r, "error_message");
			elog_wire_get_string(r, &res.message, &res.message_len);
			elog_wire_r_field(r, "high_watermark");
			res.high_watermark = elog_wire_get_i64(r);
			elog_wire_r_field(r, "log_start_offset");
			res.log_start_offset = elog_wire_get_i64(r);
			elog_wire_r_field(r, "batches");
			elog_wire_get_bytes(r, &res.batches, &res.batches_len);
			if (r->failed)
				break;
			if (fn(ctx, &res, err) < 0)
				return -1;
		}
	}
	if (elog_wire_r_end(r, err) < 0)
		return elog_err_prefix(err, "FETCH response");
	return 0;
}

/*
 * PRODUCE response (after error_code, error_message):
 *   array<topic>: string name,
 *     array<result>: u32 id, i16 error_code, string error_message,
 *                    i64 base_offset, i64 log_start_offset
 */
int elog_produce_response_walk(struct elog_wire_r *r, elog_produce_result_fn *fn, void *ctx,
			       struct elog_err *err)
{
	uint32_t tn;

	elog_wire_r_field(r, "topics");
	tn = elog_wire_get_count(r, 2 + 4);
	for (uint32_t t = 0; t < tn && !r->failed; t++) {
		struct elog_produce_result res;
		uint32_t rn;

		elog_wire_r_field(r, "topic name");
		elog_wire_get_string(r, &res.topic, &res.topic_len);
		elog_wire_r_field(r, "results");
		rn = elog_wire_get_count(r, 4 + 2 + 2 + 8 + 8);
		for (uint32_t k = 0; k < rn && !r->failed; k++) {
			elog_wire_r_field(r, "result");
			res.partition = elog_wire_get_u32(r);
			res.error = elog_wire_get_i16(r);
			elog_wire_get_string(r, &res.message, &res.message_len);
			res.base_offset = elog_wire_get_i64(r);
			res.log_start_offset = elog_wire_get_i64(r);
			if (r->failed)
				break;
			if (fn(ctx, &res, err) < 0)
				return -1;
		}
	}
	if (elog_wire_r_end(r, err) < 0)
		return elog_err_prefix(err, "PRODUCE response");
	return 0;
}
