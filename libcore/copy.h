/*
 * copy — what the tools that copy records a topic holds into another topic
 * share: elog-replay --to-topic and elog-dlq replay. Both produce with the
 * same settings and name each copy's source in the same headers:
 *
 *   elog.replay.topic       the topic the copy was read from
 *   elog.replay.partition   its partition there (decimal)
 *   elog.replay.offset      its offset there (decimal)
 *
 * A copy of a copy names its own source: the record's earlier headers of
 * the caller's drop prefix go ("elog.replay." for elog-replay, "elog." for
 * elog-dlq, which adds elog.replay.count after them).
 */
#ifndef ELOG_COPY_H
#define ELOG_COPY_H

#include <stdint.h>

#include "batch.h"
#include "client.h"
#include "err.h"

#define ELOG_COPY_SOURCE_HEADERS 3

/*
 * A producer's settings for copies: acks=all, idempotent, requests large
 * enough for any record a source may hold (a batch of its own may be the
 * largest there is), delivery and request timeouts within timeout_ms.
 * on_delivery and ctx are left for the caller.
 */
void elog_copy_producer_config(struct elog_producer_config *pc, uint32_t timeout_ms);

struct elog_copy_headers {
	struct elog_header items[ELOG_RECORD_HEADERS_MAX];
	uint32_t count;
	char partition_text[12], offset_text[24];
};

/*
 * The headers of a copy of v, read from topic's partition: v's own in
 * order, less those whose name starts with drop_prefix, then the three
 * elog.replay.* headers naming the source, with `room` more left free for
 * the caller to append. ELOG_E_LIMIT ("N headers: no room for ...") when
 * they would pass ELOG_RECORD_HEADERS_MAX. The items point into v, topic
 * and h: valid while those are.
 */
int elog_copy_headers(struct elog_copy_headers *h, const struct elog_record_view *v,
		      const char *drop_prefix, uint32_t room, const char *topic,
		      uint32_t partition, struct elog_err *err);

#endif
