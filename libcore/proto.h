/*
 * proto — the wire protocol's frames, error codes and field codec
 * (docs/protocol.md is the specification; this is its one implementation,
 * shared by the broker and every client).
 *
 * Frame (little-endian):
 *
 *   off size field
 *     0    4 length           bytes after this field: 8 + body
 *     4    2 api              request api; responses set ELOG_API_RESPONSE
 *     6    2 version          ELOG_PROTO_VERSION
 *     8    4 correlation_id   echoed in the response
 *    12    . body             responses start with i16 error_code, string message
 *
 * Writing: a struct elog_wire_w appends to an elog_buf and is sticky: after
 * the first failure (the buffer's cap) every put is a no-op, and
 * elog_wire_w_end reports it. So an encoder is a straight run of puts and
 * one check at the end:
 *
 *   elog_wire_w_init(&w, &buf);
 *   elog_wire_frame_begin(&w, ELOG_API_FETCH, correlation_id);
 *   elog_wire_put_u32(&w, max_wait_ms); ...
 *   if (elog_wire_frame_end(&w, &err) < 0) ...
 *
 * Arrays whose length is not known up front: pos = elog_wire_put_count(&w, 0),
 * then elog_wire_patch_count(&w, pos, n).
 *
 * Reading: a struct elog_wire_r walks one frame body and is sticky too:
 * after the first short read every get returns zero/empty, and
 * elog_wire_r_end reports the first field that failed (and bytes left over).
 * Strings and bytes are returned as spans into the frame: no allocation.
 * elog_wire_get_count checks the count against the bytes left (each element
 * is at least min_size bytes) so a decoder can size an allocation by it.
 */
#ifndef ELOG_PROTO_H
#define ELOG_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* The first version of every api; each api has its own newest version
 * (elog_api_version_max). Requests carry the version they are encoded in,
 * responses echo it. */
#define ELOG_PROTO_VERSION 1
#define ELOG_PORT_DEFAULT 7411
#define ELOG_FRAME_HEADER_SIZE 12
#define ELOG_FRAME_PREFIX_SIZE 4               /* the length field */
#define ELOG_API_RESPONSE 0x8000u
#define ELOG_FRAME_BYTES_DEFAULT ((64u << 20) + (1u << 20))
#define ELOG_FRAME_BYTES_HARD_MAX (256u << 20)
#define ELOG_TOPIC_NAME_MAX 249
/* DESCRIBE_TOPICS partition status (version 3): no majority of replicas reachable. */
#define ELOG_DESCRIBE_STATUS_UNAVAILABLE 3

enum elog_api {
	ELOG_API_METADATA = 1,
	ELOG_API_CREATE_TOPIC = 2,
	ELOG_API_DELETE_TOPIC = 3,
	ELOG_API_DESCRIBE_TOPICS = 4,
	ELOG_API_ALTER_TOPIC = 5,
	ELOG_API_INIT_PRODUCER = 6,
	ELOG_API_PRODUCE = 7,
	ELOG_API_FETCH = 8,
	ELOG_API_LIST_OFFSETS = 9,
	ELOG_API_DELETE_RECORDS = 10,
	ELOG_API_RAFT = 11,             /* between brokers of a cluster (raftwire.h) */
	ELOG_API_FIND_COORDINATOR = 12, /* consumer groups (docs/groups.md) */
	ELOG_API_OFFSET_COMMIT = 13,
	ELOG_API_OFFSET_FETCH = 14,
	ELOG_API_LIST_GROUPS = 15,
	ELOG_API_GROUP_HEARTBEAT = 16,
	ELOG_API_DESCRIBE_GROUP = 17,
	ELOG_API_DELETE_GROUP = 18,
	ELOG_API__COUNT
};

enum elog_proto_error {
	ELOG_PE_NONE = 0,
	ELOG_PE_UNKNOWN_SERVER_ERROR = 1,
	ELOG_PE_CORRUPT_BATCH = 2,
	ELOG_PE_UNKNOWN_TOPIC = 3,
	ELOG_PE_UNKNOWN_PARTITION = 4,
	ELOG_PE_OFFSET_OUT_OF_RANGE = 5,
	ELOG_PE_NOT_LEADER = 6,
	ELOG_PE_LEADER_UNKNOWN = 7,
	ELOG_PE_TIMEOUT = 8,
	ELOG_PE_BATCH_TOO_LARGE = 9,
	ELOG_PE_INVALID_REQUEST = 10,
	ELOG_PE_TOPIC_EXISTS = 11,
	ELOG_PE_INVALID_CONFIG = 12,
	ELOG_PE_INVALID_TOPIC = 13,
	ELOG_PE_OUT_OF_ORDER_SEQUENCE = 14,
	ELOG_PE_UNKNOWN_PRODUCER = 15,
	ELOG_PE_PRODUCER_FENCED = 16,
	ELOG_PE_STORAGE_ERROR = 17,
	ELOG_PE_UNSUPPORTED_VERSION = 18,
	ELOG_PE_UNSUPPORTED_API = 19,
	ELOG_PE_FRAME_TOO_LARGE = 20,
	ELOG_PE_SHUTTING_DOWN = 21,
	ELOG_PE_RESOURCE_LIMIT = 22,
	ELOG_PE_DATA_DAMAGED = 23,
	ELOG_PE_STORAGE_FULL = 24,
	ELOG_PE_NOT_COORDINATOR = 25,
	ELOG_PE_COORDINATOR_LOADING = 26,
	ELOG_PE_UNKNOWN_MEMBER_ID = 27,
	ELOG_PE_FENCED_MEMBER_EPOCH = 28,
	ELOG_PE_GROUP_NOT_EMPTY = 29,
	ELOG_PE__COUNT
};

/* "NOT_LEADER"; "UNKNOWN" for codes out of range. */
const char *elog_proto_error_name(int code);
/* "not the leader for this partition": for "prog: what: <text>" lines. */
const char *elog_proto_error_text(int code);
/* Non-zero for codes a client retries after a metadata refresh and backoff. */
int elog_proto_error_retriable(int code);
/* "FETCH"; "UNKNOWN" out of range. */
const char *elog_api_name(int api);
/* The newest version of api this build speaks (ELOG_PROTO_VERSION for
 * unknown apis); it speaks every version from ELOG_PROTO_VERSION to it. */
uint16_t elog_api_version_max(int api);

/* 0 if name[0..len) is a valid user topic name (docs/protocol.md);
 * internal (reserved "__" prefix) names are refused unless allow_internal. */
int elog_topic_name_check(const char *name, size_t len, int allow_internal, struct elog_err *err);

/* ---------------------------------------------------------------- frames */

struct elog_frame_header {
	uint32_t length;          /* bytes after the length field */
	uint16_t api;             /* with ELOG_API_RESPONSE for responses */
	uint16_t version;
	uint32_t correlation_id;
};

/*
 * Decode a frame header from n >= ELOG_FRAME_HEADER_SIZE bytes. Fails with
 * ELOG_E_LIMIT when length > frame_bytes_max, ELOG_E_CORRUPT when
 * length < 8. The version and api are not judged here (the broker answers
 * unknown ones with an error frame instead of closing).
 */
int elog_frame_header_decode(const uint8_t *p, size_t n, uint32_t frame_bytes_max,
			     struct elog_frame_header *h, struct elog_err *err);

/* ---------------------------------------------------------------- writer */

struct elog_wire_w {
	struct elog_buf *buf;
	size_t frame_start;   /* where the current frame's length field is */
	int failed;
	struct elog_err err;  /* the first failure */
};

void elog_wire_w_init(struct elog_wire_w *w, struct elog_buf *buf);
/* Start a request frame (length patched by _frame_end) in the api's newest
 * version, elog_api_version_max(api). */
void elog_wire_frame_begin(struct elog_wire_w *w, uint16_t api, uint32_t correlation_id);
/* The same in a given version. */
void elog_wire_frame_begin_version(struct elog_wire_w *w, uint16_t api, uint16_t version,
				   uint32_t correlation_id);
/* Start the response frame to `request` (its api with ELOG_API_RESPONSE set,
 * its version and correlation id), with its error code and message (message
 * may be NULL for ""). */
void elog_wire_response_begin(struct elog_wire_w *w, const struct elog_frame_header *request,
			      int error_code, const char *message);
/* Patch the length; returns -1 (with the first failure) if any put failed. */
int elog_wire_frame_end(struct elog_wire_w *w, struct elog_err *err);

void elog_wire_put_u8(struct elog_wire_w *w, uint8_t v);
void elog_wire_put_u16(struct elog_wire_w *w, uint16_t v);
void elog_wire_put_u32(struct elog_wire_w *w, uint32_t v);
void elog_wire_put_u64(struct elog_wire_w *w, uint64_t v);
static inline void elog_wire_put_i8(struct elog_wire_w *w, int8_t v) { elog_wire_put_u8(w, (uint8_t)v); }
static inline void elog_wire_put_i16(struct elog_wire_w *w, int16_t v) { elog_wire_put_u16(w, (uint16_t)v); }
static inline void elog_wire_put_i32(struct elog_wire_w *w, int32_t v) { elog_wire_put_u32(w, (uint32_t)v); }
static inline void elog_wire_put_i64(struct elog_wire_w *w, int64_t v) { elog_wire_put_u64(w, (uint64_t)v); }
/* string: u16 length + bytes; a len over 65535 fails the writer. */
void elog_wire_put_string(struct elog_wire_w *w, const char *s, size_t len);
void elog_wire_put_cstring(struct elog_wire_w *w, const char *s);
/* bytes: u32 length + bytes. */
void elog_wire_put_bytes(struct elog_wire_w *w, const void *p, size_t len);
/* Reserve room for a u32 of n bytes to be filled in later (e.g. a bytes
 * field whose content is appended piecewise); returns its position. */
size_t elog_wire_put_count(struct elog_wire_w *w, uint32_t count);
void elog_wire_patch_count(struct elog_wire_w *w, size_t pos, uint32_t count);
/* Raw bytes (e.g. batches inside a bytes field started with put_count). */
void elog_wire_put_raw(struct elog_wire_w *w, const void *p, size_t len);

/* ---------------------------------------------------------------- reader */

struct elog_wire_r {
	const uint8_t *start, *pos, *end;
	int failed;
	const char *failed_field; /* static string naming the first field that failed */
};

/* Read a frame body (the bytes after the 12-byte header). */
void elog_wire_r_init(struct elog_wire_r *r, const uint8_t *body, size_t len);
/* Name the next field for error messages: elog_wire_r_field(&r, "max_bytes"). */
static inline void elog_wire_r_field(struct elog_wire_r *r, const char *name)
{
	if (!r->failed)
		r->failed_field = name;
}

uint8_t elog_wire_get_u8(struct elog_wire_r *r);
uint16_t elog_wire_get_u16(struct elog_wire_r *r);
uint32_t elog_wire_get_u32(struct elog_wire_r *r);
uint64_t elog_wire_get_u64(struct elog_wire_r *r);
static inline int8_t elog_wire_get_i8(struct elog_wire_r *r) { return (int8_t)elog_wire_get_u8(r); }
static inline int16_t elog_wire_get_i16(struct elog_wire_r *r) { return (int16_t)elog_wire_get_u16(r); }
static inline int32_t elog_wire_get_i32(struct elog_wire_r *r) { return (int32_t)elog_wire_get_u32(r); }
static inline int64_t elog_wire_get_i64(struct elog_wire_r *r) { return (int64_t)elog_wire_get_u64(r); }
/* Spans into the frame; len 0 and a non-NULL pointer for empty values. */
void elog_wire_get_string(struct elog_wire_r *r, const char **s, size_t *len);
void elog_wire_get_bytes(struct elog_wire_r *r, const uint8_t **p, size_t *len);
/* An array count; fails if count * min_size exceeds the bytes left. */
uint32_t elog_wire_get_count(struct elog_wire_r *r, size_t min_size);
/* Response prefix: error code and message span. */
int16_t elog_wire_get_response_error(struct elog_wire_r *r, const char **msg, size_t *msg_len);

/* 0 if nothing failed and every byte was consumed; else -1 with
 * ELOG_E_CORRUPT "malformed <field>" or "N bytes left over". */
int elog_wire_r_end(struct elog_wire_r *r, struct elog_err *err);
static inline size_t elog_wire_r_left(const struct elog_wire_r *r)
{
	return (size_t)(r->end - r->pos);
}

#endif
