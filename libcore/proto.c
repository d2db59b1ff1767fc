/* proto — frames, error codes and the field codec; see proto.h and docs/protocol.md. */
#include "proto.h"

#include <assert.h>
#include <string.h>

#include "bytes.h"

_Static_assert(ELOG_FRAME_HEADER_SIZE == 4 + 2 + 2 + 4, "frame header layout");
_Static_assert(ELOG_FRAME_BYTES_DEFAULT <= ELOG_FRAME_BYTES_HARD_MAX, "frame limits");

/* ---------------------------------------------------------------- names */

struct error_info {
	const char *name;
	const char *text;
	int retriable;
};

static const struct error_info errors[ELOG_PE__COUNT] = {
	[ELOG_PE_NONE] = {"NONE", "success", 0},
	[ELOG_PE_UNKNOWN_SERVER_ERROR] = {"UNKNOWN_SERVER_ERROR", "unexpected broker error", 0},
	[ELOG_PE_CORRUPT_BATCH] = {"CORRUPT_BATCH", "corrupt batch", 0},
	[ELOG_PE_UNKNOWN_TOPIC] = {"UNKNOWN_TOPIC", "no such topic", 0},
	[ELOG_PE_UNKNOWN_PARTITION] = {"UNKNOWN_PARTITION", "no such partition", 0},
	[ELOG_PE_OFFSET_OUT_OF_RANGE] = {"OFFSET_OUT_OF_RANGE", "offset out of range", 0},
	[ELOG_PE_NOT_LEADER] = {"NOT_LEADER", "not the leader for this partition", 1},
	[ELOG_PE_LEADER_UNKNOWN] = {"LEADER_UNKNOWN", "no leader for this partition", 1},
	[ELOG_PE_TIMEOUT] = {"TIMEOUT", "timed out", 1},
	[ELOG_PE_BATCH_TOO_LARGE] = {"BATCH_TOO_LARGE", "batch or record too large", 0},
	[ELOG_PE_INVALID_REQUEST] = {"INVALID_REQUEST", "invalid request", 0},
	[ELOG_PE_TOPIC_EXISTS] = {"TOPIC_EXISTS", "topic already exists", 0},
	[ELOG_PE_INVALID_CONFIG] = {"INVALID_CONFIG", "invalid configuration", 0},
	[ELOG_PE_INVALID_TOPIC] = {"INVALID_TOPIC", "invalid topic name", 0},
	[ELOG_PE_OUT_OF_ORDER_SEQUENCE] = {"OUT_OF_ORDER_SEQUENCE", "out of order sequence number", 0},
	[ELOG_PE_UNKNOWN_PRODUCER] = {"UNKNOWN_PRODUCER", "unknown producer id", 0},
	[ELOG_PE_PRODUCER_FENCED] = {"PRODUCER_FENCED", "producer fenced by a newer epoch", 0},
	[ELOG_PE_STORAGE_ERROR] = {"STORAGE_ERROR", "broker storage failed", 0},
	[ELOG_PE_UNSUPPORTED_VERSION] = {"UNSUPPORTED_VERSION", "unsupported protocol version", 0},
	[ELOG_PE_UNSUPPORTED_API] = {"UNSUPPORTED_API", "unsupported request", 0},
	[ELOG_PE_FRAME_TOO_LARGE] = {"FRAME_TOO_LARGE", "frame too large", 0},
	[ELOG_PE_SHUTTING_DOWN] = {"SHUTTING_DOWN", "broker is shutting down", 1},
	[ELOG_PE_RESOURCE_LIMIT] = {"RESOURCE_LIMIT", "broker resource limit reached", 1},
	[ELOG_PE_DATA_DAMAGED] = {"DATA_DAMAGED", "stored data is damaged", 0},
	[ELOG_PE_STORAGE_FULL] = {"STORAGE_FULL", "broker storage is full", 1},
	[ELOG_PE_NOT_COORDINATOR] = {"NOT_COORDINATOR", "broker is not the group's coordinator", 1},
	[ELOG_PE_COORDINATOR_LOADING] = {"COORDINATOR_LOADING", "group coordinator is loading", 1},
	[ELOG_PE_UNKNOWN_MEMBER_ID] = {"UNKNOWN_MEMBER_ID", "not a member of the group", 0},
	[ELOG_PE_FENCED_MEMBER_EPOCH] = {"FENCED_MEMBER_EPOCH", "member fenced by a newer epoch", 0},
	[ELOG_PE_GROUP_NOT_EMPTY] = {"GROUP_NOT_EMPTY", "the group has active members", 0},
};

static const char *const api_names[ELOG_API__COUNT] = {
	[ELOG_API_METADATA] = "METADATA",
	[ELOG_API_CREATE_TOPIC] = "CREATE_TOPIC",
	[ELOG_API_DELETE_TOPIC] = "DELETE_TOPIC",
	[ELOG_API_DESCRIBE_TOPICS] = "DESCRIBE_TOPICS",
	[ELOG_API_ALTER_TOPIC] = "ALTER_TOPIC",
	[ELOG_API_INIT_PRODUCER] = "INIT_PRODUCER",
	[ELOG_API_PRODUCE] = "PRODUCE",
	[ELOG_API_FETCH] = "FETCH",
	[ELOG_API_LIST_OFFSETS] = "LIST_OFFSETS",
	[ELOG_API_DELETE_RECORDS] = "DELETE_RECORDS",
	[ELOG_API_RAFT] = "RAFT",
	[ELOG_API_FIND_COORDINATOR] = "FIND_COORDINATOR",
	[ELOG_API_OFFSET_COMMIT] = "OFFSET_COMMIT",
	[ELOG_API_OFFSET_FETCH] = "OFFSET_FETCH",
	[ELOG_API_LIST_GROUPS] = "LIST_GROUPS",
	[ELOG_API_GROUP_HEARTBEAT] = "GROUP_HEARTBEAT",
	[ELOG_API_DESCRIBE_GROUP] = "DESCRIBE_GROUP",
	[ELOG_API_DELETE_GROUP] = "DELETE_GROUP",
};

const char *elog_proto_error_name(int code)
{
	return code >= 0 && code < ELOG_PE__COUNT ? errors[code].name : "UNKNOWN";
}

const char *elog_proto_error_text(int code)
{
	return code >= 0 && code < ELOG_PE__COUNT ? errors[code].text : "unknown error code";
}

int elog_proto_error_retriable(int code)
{
	return code >= 0 && code < ELOG_PE__COUNT && errors[code].retriable;
}

/* The newest version of each api this build speaks; every api also speaks
 * every version from ELOG_PROTO_VERSION up to it (docs/protocol.md). */
static const uint16_t api_versions[ELOG_API__COUNT] = {
	[ELOG_API_METADATA] = 2,     /* 2: allow_auto_create */
	[ELOG_API_CREATE_TOPIC] = 1,
	[ELOG_API_DELETE_TOPIC] = 1,
	[ELOG_API_DESCRIBE_TOPICS] = 3, /* 2: partition status; 3: leader, replicas */
	[ELOG_API_ALTER_TOPIC] = 1,
	[ELOG_API_INIT_PRODUCER] = 1,
	[ELOG_API_PRODUCE] = 2,      /* 2: never creates a topic */
	[ELOG_API_FETCH] = 1,
	[ELOG_API_LIST_OFFSETS] = 1,
	[ELOG_API_DELETE_RECORDS] = 1,
	[ELOG_API_RAFT] = 1,
	[ELOG_API_FIND_COORDINATOR] = 1,
	[ELOG_API_OFFSET_COMMIT] = 1,
	[ELOG_API_OFFSET_FETCH] = 2,   /* 2: member id and epoch (fenced as commits) */
	[ELOG_API_LIST_GROUPS] = 1,
	[ELOG_API_GROUP_HEARTBEAT] = 1,
	[ELOG_API_DESCRIBE_GROUP] = 1,
	[ELOG_API_DELETE_GROUP] = 1,
};

uint16_t elog_api_version_max(int api)
{
	api &= ~(int)ELOG_API_RESPONSE;
	return api > 0 && api < ELOG_API__COUNT && api_versions[api] ? api_versions[api]
								       : ELOG_PROTO_VERSION;
}

const char *elog_api_name(int api)
{
	return api > 0 && api < ELOG_API__COUNT && api_names[api] ? api_names[api] : "UNKNOWN";
}

int elog_topic_name_check(const char *name, size_t len, int allow_internal, struct elog_err *err)
{
	if (len == 0)
		return elog_err_set(err, ELOG_E_INVAL, "topic name is empty");
	if (len > ELOG_TOPIC_NAME_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "topic name longer than %d bytes", ELOG_TOPIC_NAME_MAX);
	/* A broker keeps its own files (.lock, .trash) beside the topic directories. */
	if (name[0] == '.')
		return elog_err_set(err, ELOG_E_INVAL,
				    "topic names starting with '.' are reserved for the broker's files");
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '.' || c == '_' || c == '-';
		if (!ok)
			return elog_err_set(err, ELOG_E_INVAL,
					    "topic name has a byte other than A-Z a-z 0-9 . _ - at position %zu", i);
	}
	if (!allow_internal && len >= 2 && name[0] == '_' && name[1] == '_')
		return elog_err_set(err, ELOG_E_INVAL, "topic names starting with '__' are reserved");
	return 0;
}

int elog_frame_header_decode(const uint8_t *p, size_t n, uint32_t frame_bytes_max,
			     struct elog_frame_header *h, struct elog_err *err)
{
	assert(n >= ELOG_FRAME_HEADER_SIZE);
	(void)n;
	h->length = elog_get32(p);
	h->api = elog_get16(p + 4);
	h->version = elog_get16(p + 6);
	h->correlation_id = elog_get32(p + 8);
	if (h->length < ELOG_FRAME_HEADER_SIZE - ELOG_FRAME_PREFIX_SIZE)
		return elog_err_set(err, ELOG_E_CORRUPT, "frame length %u is shorter than a frame header",
				    h->length);
	if (h->length > frame_bytes_max)
		return elog_err_set(err, ELOG_E_LIMIT, "frame of %u bytes exceeds the limit of %u",
				    h->length, frame_bytes_max);
	return 0;
}

/* ---------------------------------------------------------------- writer */

void elog_wire_w_init(struct elog_wire_w *w, struct elog_buf *buf)
{
	w->buf = buf;
	w->frame_start = buf->len;
	w->failed = 0;
	elog_err_clear(&w->err);
}

/* Room for n bytes at the end of the buffer, or NULL after a failure. */
static uint8_t *w_room(struct elog_wire_w *w, size_t n)
{
	uint8_t *p;

	if (w->failed)
		return NULL;
	if (elog_buf_reserve(w->buf, n, &w->err) < 0) {
		w->failed = 1;
		return NULL;
	}
	p = w->buf->data + w->buf->len;
	w->buf->len += n;
	return p;
}

void elog_wire_put_u8(struct elog_wire_w *w, uint8_t v)
{
	uint8_t *p = w_room(w, 1);
	if (p)
		*p = v;
}

void elog_wire_put_u16(struct elog_wire_w *w, uint16_t v)
{
	uint8_t *p = w_room(w, 2);
	if (p)
		elog_put16(p, v);
}

void elog_wire_put_u32(struct elog_wire_w *w, uint32_t v)
{
	uint8_t *p = w_room(w, 4);
	if (p)
		elog_put32(p, v);
}

void elog_wire_put_u64(struct elog_wire_w *w, uint64_t v)
{
	uint8_t *p = w_room(w, 8);
	if (p)
		elog_put64(p, v);
}

void elog_wire_put_raw(struct elog_wire_w *w, const void *src, size_t len)
{
	uint8_t *p = w_room(w, len);
	if (p && len)
		memcpy(p, src, len);
}

void elog_wire_put_string(struct elog_wire_w *w, const char *s, size_t len)
{
	if (len > UINT16_MAX) {
		if (!w->failed)
			elog_err_set(&w->err, ELOG_E_LIMIT, "string of %zu bytes is longer than 65535", len);
		w->failed = 1;
		return;
	}
	elog_wire_put_u16(w, (uint16_t)len);
	elog_wire_put_raw(w, s, len);
}

void elog_wire_put_cstring(struct elog_wire_w *w, const char *s)
{
	elog_wire_put_string(w, s ? s : "", s ? strlen(s) : 0);
}

void elog_wire_put_bytes(struct elog_wire_w *w, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		if (!w->failed)
			elog_err_set(&w->err, ELOG_E_LIMIT, "bytes field of %zu bytes is too long", len);
		w->failed = 1;
		return;
	}
	elog_wire_put_u32(w, (uint32_t)len);
	elog_wire_put_raw(w, p, len);
}

size_t elog_wire_put_count(struct elog_wire_w *w, uint32_t count)
{
	size_t pos = w->buf->len;
	elog_wire_put_u32(w, count);
	return pos;
}

void elog_wire_patch_count(struct elog_wire_w *w, size_t pos, uint32_t count)
{
	if (w->failed)
		return;
	assert(pos + 4 <= w->buf->len);
	elog_put32(w->buf->data + pos, count);
}

void elog_wire_frame_begin_version(struct elog_wire_w *w, uint16_t api, uint16_t version,
				   uint32_t correlation_id)
{
	w->frame_start = w->buf->len;
	elog_wire_put_u32(w, 0); /* length, patched by frame_end */
	elog_wire_put_u16(w, api);
	elog_wire_put_u16(w, version);
	elog_wire_put_u32(w, correlation_id);
}

void elog_wire_frame_begin(struct elog_wire_w *w, uint16_t api, uint32_t correlation_id)
{
	elog_wire_frame_begin_version(w, api, elog_api_version_max(api), correlation_id);
}

void elog_wire_response_begin(struct elog_wire_w *w, const struct elog_frame_header *request,
			      int error_code, const char *message)
{
	elog_wire_frame_begin_version(w, (uint16_t)(request->api | ELOG_API_RESPONSE),
				      request->version, request->correlation_id);
	elog_wire_put_i16(w, (int16_t)error_code);
	elog_wire_put_cstring(w, message);
}

int elog_wire_frame_end(struct elog_wire_w *w, struct elog_err *err)
{
	size_t length;

	if (w->failed) {
		/* Leave no half frame behind: callers may keep using the buffer. */
		if (w->buf->len > w->frame_start)
			w->buf->len = w->frame_start;
		if (err)
			*err = w->err;
		return -1;
	}
	length = w->buf->len - w->frame_start - ELOG_FRAME_PREFIX_SIZE;
	if (length > UINT32_MAX) {
		w->buf->len = w->frame_start;
		return elog_err_set(err, ELOG_E_LIMIT, "frame of %zu bytes is too long", length);
	}
	elog_put32(w->buf->data + w->frame_start, (uint32_t)length);
	return 0;
}

/* ---------------------------------------------------------------- reader */

void elog_wire_r_init(struct elog_wire_r *r, const uint8_t *body, size_t len)
{
	r->start = body;
	r->pos = body;
	r->end = body + len;
	r->failed = 0;
	r->failed_field = "field";
}

/* The next n bytes, or NULL (and the reader failed) if fewer are left. */
static const uint8_t *r_take(struct elog_wire_r *r, size_t n)
{
	const uint8_t *p;

	if (r->failed || (size_t)(r->end - r->pos) < n) {
		r->failed = 1;
		return NULL;
	}
	p = r->pos;
	r->pos += n;
	return p;
}

uint8_t elog_wire_get_u8(struct elog_wire_r *r)
{
	const uint8_t *p = r_take(r, 1);
	return p ? *p : 0;
}

uint16_t elog_wire_get_u16(struct elog_wire_r *r)
{
	const uint8_t *p = r_take(r, 2);
	return p ? elog_get16(p) : 0;
}

uint32_t elog_wire_get_u32(struct elog_wire_r *r)
{
	const uint8_t *p = r_take(r, 4);
	return p ? elog_get32(p) : 0;
}

uint64_t elog_wire_get_u64(struct elog_wire_r *r)
{
	const uint8_t *p = r_take(r, 8);
	return p ? elog_get64(p) : 0;
}

void elog_wire_get_string(struct elog_wire_r *r, const char **s, size_t *len)
{
	uint16_t n = elog_wire_get_u16(r);
	const uint8_t *p = r_take(r, n);

	*s = p ? (const char *)p : "";
	*len = p ? n : 0;
}

void elog_wire_get_bytes(struct elog_wire_r *r, const uint8_t **out, size_t *len)
{
	static const uint8_t empty[1];
	uint32_t n = elog_wire_get_u32(r);
	const uint8_t *p = r_take(r, n);

	*out = p ? p : empty;
	*len = p ? n : 0;
}

uint32_t elog_wire_get_count(struct elog_wire_r *r, size_t min_size)
{
	uint32_t n = elog_wire_get_u32(r);

	if (r->failed)
		return 0;
	if (min_size && (uint64_t)n * min_size > (uint64_t)(r->end - r->pos)) {
		r->failed = 1;
		return 0;
	}
	return n;
}

int16_t elog_wire_get_response_error(struct elog_wire_r *r, const char **msg, size_t *msg_len)
{
	int16_t code;

	elog_wire_r_field(r, "error_code");
	code = elog_wire_get_i16(r);
	elog_wire_r_field(r, "error_message");
	elog_wire_get_string(r, msg, msg_len);
	return code;
}

int elog_wire_r_end(struct elog_wire_r *r, struct elog_err *err)
{
	if (r->failed)
		return elog_err_set(err, ELOG_E_CORRUPT, "malformed %s at byte %zu of the body",
				    r->failed_field, (size_t)(r->pos - r->start));
	if (r->pos != r->end)
		return elog_err_set(err, ELOG_E_CORRUPT, "%zu bytes left over after the body",
				    (size_t)(r->end - r->pos));
	return 0;
}
