/* copy — see copy.h. */
#include "copy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void elog_copy_producer_config(struct elog_producer_config *pc, uint32_t timeout_ms)
{
	elog_producer_config_init(pc);
	pc->acks = -1;
	pc->idempotence = 1;
	pc->request_bytes = ELOG_BATCH_SIZE_MAX;
	pc->delivery_timeout_ms = timeout_ms;
	if (pc->request_timeout_ms > timeout_ms)
		pc->request_timeout_ms = timeout_ms;
}

static void add(struct elog_copy_headers *h, const char *name, const char *value)
{
	h->items[h->count++] = (struct elog_header){(const uint8_t *)name, (uint32_t)strlen(name),
						    (const uint8_t *)value,
						    (int32_t)strlen(value)};
}

int elog_copy_headers(struct elog_copy_headers *h, const struct elog_record_view *v,
		      const char *drop_prefix, uint32_t room, const char *topic,
		      uint32_t partition, struct elog_err *err)
{
	size_t prefix_len = strlen(drop_prefix);
	uint32_t extra = ELOG_COPY_SOURCE_HEADERS + room;

	h->count = 0;
	for (uint32_t i = 0; i < v->header_count; i++) {
		const struct elog_header *x = &v->headers[i];
		if (x->name_len >= prefix_len && memcmp(x->name, drop_prefix, prefix_len) == 0)
			continue;
		if (h->count + extra >= ELOG_RECORD_HEADERS_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "%" PRIu32 " headers: no room for the "
					    "%" PRIu32 " elog.replay.* headers (at most %d)",
					    v->header_count, extra, ELOG_RECORD_HEADERS_MAX);
		h->items[h->count++] = *x;
	}
	snprintf(h->partition_text, sizeof(h->partition_text), "%" PRIu32, partition);
	snprintf(h->offset_text, sizeof(h->offset_text), "%" PRId64, v->offset);
	add(h, "elog.replay.topic", topic);
	add(h, "elog.replay.partition", h->partition_text);
	add(h, "elog.replay.offset", h->offset_text);
	return 0;
}
