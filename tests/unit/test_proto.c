/*
 * Unit tests: proto — frame header codec, round trips of every primitive,
 * the sticky failure behaviour of writer (buffer cap, over-long strings) and
 * reader (short reads, count bounds, leftover bytes), topic name rules and
 * the completeness of the error and api tables (docs/protocol.md).
 */
#include "t.h"
#include "bytes.h"
#include "proto.h"

/* Write one request frame with every primitive; read it back. */
static void test_round_trip_every_primitive(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_frame_header h;
	struct elog_err err;
	const char *s;
	const uint8_t *bytes;
	size_t len;

	elog_buf_init(&b, 1 << 20);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_FETCH, 0xdeadbeefu);
	elog_wire_put_u8(&w, 0xab);
	elog_wire_put_i8(&w, -1);
	elog_wire_put_u16(&w, 0xbeef);
	elog_wire_put_i16(&w, -2);
	elog_wire_put_u32(&w, 0xcafebabeu);
	elog_wire_put_i32(&w, INT32_MIN);
	elog_wire_put_u64(&w, 0x0123456789abcdefull);
	elog_wire_put_i64(&w, INT64_MIN);
	elog_wire_put_string(&w, "orders", 6);
	elog_wire_put_cstring(&w, "");
	elog_wire_put_cstring(&w, NULL);
	elog_wire_put_bytes(&w, "\0\1\2", 3);
	elog_wire_put_bytes(&w, NULL, 0);
	{
		size_t pos = elog_wire_put_count(&w, 0);
		elog_wire_put_u32(&w, 7);
		elog_wire_put_u32(&w, 8);
		elog_wire_patch_count(&w, pos, 2);
	}
	elog_wire_put_raw(&w, "xyz", 3);
	T_OK(elog_wire_frame_end(&w, &err), &err);

	/* Header: little-endian, length counts the bytes after itself. */
	T_OK(elog_frame_header_decode(b.data, b.len, ELOG_FRAME_BYTES_DEFAULT, &h, &err), &err);
	T_EQ_INT(h.length, b.len - 4);
	T_EQ_INT(h.api, ELOG_API_FETCH);
	T_EQ_INT(h.version, ELOG_PROTO_VERSION);
	T_EQ_INT(h.correlation_id, 0xdeadbeefu);
	T_EQ_INT(b.data[0], (b.len - 4) & 0xff);
	T_EQ_INT(b.data[4], ELOG_API_FETCH);

	elog_wire_r_init(&r, b.data + ELOG_FRAME_HEADER_SIZE, b.len - ELOG_FRAME_HEADER_SIZE);
	T_EQ_INT(elog_wire_get_u8(&r), 0xab);
	T_EQ_INT(elog_wire_get_i8(&r), -1);
	T_EQ_INT(elog_wire_get_u16(&r), 0xbeef);
	T_EQ_INT(elog_wire_get_i16(&r), -2);
	T_EQ_INT(elog_wire_get_u32(&r), 0xcafebabeu);
	T_EQ_INT(elog_wire_get_i32(&r), INT32_MIN);
	T_CHECK(elog_wire_get_u64(&r) == 0x0123456789abcdefull);
	T_CHECK(elog_wire_get_i64(&r) == INT64_MIN);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 6 && memcmp(s, "orders", 6) == 0);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 0 && s != NULL);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 0 && s != NULL);
	elog_wire_get_bytes(&r, &bytes, &len);
	T_CHECK(len == 3 && bytes[0] == 0 && bytes[1] == 1 && bytes[2] == 2);
	elog_wire_get_bytes(&r, &bytes, &len);
	T_CHECK(len == 0 && bytes != NULL);
	T_EQ_INT(elog_wire_get_count(&r, 4), 2);
	T_EQ_INT(elog_wire_get_u32(&r), 7);
	T_EQ_INT(elog_wire_get_u32(&r), 8);
	T_EQ_INT(elog_wire_get_u8(&r), 'x');
	T_EQ_INT(elog_wire_get_u16(&r), 'y' | 'z' << 8);
	T_OK(elog_wire_r_end(&r, &err), &err);
	elog_buf_release(&b);
}

static void test_response_frame(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_frame_header h;
	struct elog_err err;
	const char *msg;
	size_t len;

	elog_buf_init(&b, 4096);
	elog_wire_w_init(&w, &b);
	elog_wire_response_begin(&w, &(struct elog_frame_header){.api = ELOG_API_PRODUCE, .version = 1, .correlation_id = 42}, ELOG_PE_NOT_LEADER, "not the leader");
	T_OK(elog_wire_frame_end(&w, &err), &err);
	T_OK(elog_frame_header_decode(b.data, b.len, 1 << 20, &h, &err), &err);
	T_EQ_INT(h.api, ELOG_API_PRODUCE | ELOG_API_RESPONSE);
	T_EQ_INT(h.correlation_id, 42);
	elog_wire_r_init(&r, b.data + 12, b.len - 12);
	T_EQ_INT(elog_wire_get_response_error(&r, &msg, &len), ELOG_PE_NOT_LEADER);
	T_CHECK(len == 14 && memcmp(msg, "not the leader", 14) == 0);
	T_OK(elog_wire_r_end(&r, &err), &err);

	/* NULL message is "" */
	elog_buf_reset(&b);
	elog_wire_w_init(&w, &b);
	elog_wire_response_begin(&w, &(struct elog_frame_header){.api = ELOG_API_METADATA, .version = 1, .correlation_id = 1}, 0, NULL);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	T_EQ_INT(b.len, 12 + 2 + 2);
	elog_buf_release(&b);
}

static void test_several_frames_in_one_buffer(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_frame_header h;
	struct elog_err err;
	size_t off = 0;

	elog_buf_init(&b, 4096);
	for (uint32_t i = 1; i <= 3; i++) {
		elog_wire_w_init(&w, &b);
		elog_wire_frame_begin(&w, ELOG_API_METADATA, i);
		for (uint32_t k = 0; k < i; k++)
			elog_wire_put_u32(&w, k);
		T_OK(elog_wire_frame_end(&w, &err), &err);
	}
	for (uint32_t i = 1; i <= 3; i++) {
		T_OK(elog_frame_header_decode(b.data + off, b.len - off, 1 << 20, &h, &err), &err);
		T_EQ_INT(h.correlation_id, i);
		T_EQ_INT(h.length, 8 + 4 * i);
		off += 4 + h.length;
	}
	T_EQ_INT(off, b.len);
	elog_buf_release(&b);
}

static void test_header_limits(void)
{
	uint8_t p[12];
	struct elog_frame_header h;
	struct elog_err err;

	elog_put32(p, 7); /* shorter than api + version + correlation id */
	elog_put16(p + 4, 1);
	elog_put16(p + 6, 1);
	elog_put32(p + 8, 1);
	T_CHECK(elog_frame_header_decode(p, 12, 1000, &h, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	elog_put32(p, 8); /* an empty body is a valid frame */
	T_OK(elog_frame_header_decode(p, 12, 1000, &h, &err), &err);
	elog_put32(p, 1000);
	T_OK(elog_frame_header_decode(p, 12, 1000, &h, &err), &err);
	elog_put32(p, 1001);
	T_CHECK(elog_frame_header_decode(p, 12, 1000, &h, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	elog_put32(p, UINT32_MAX);
	T_CHECK(elog_frame_header_decode(p, 12, ELOG_FRAME_BYTES_HARD_MAX, &h, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
}

/* The writer hits its buffer's cap: every later put is a no-op, frame_end fails and rolls back. */
static void test_writer_sticky_cap(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_err err;
	size_t before;

	elog_buf_init(&b, 64);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_METADATA, 1);
	elog_wire_put_u32(&w, 1);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	before = b.len;
	T_EQ_INT(before, 16);

	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_METADATA, 2);
	elog_wire_put_bytes(&w, "0123456789012345678901234567890123456789", 40); /* past 64 */
	T_CHECK(w.failed);
	elog_wire_put_u8(&w, 1); /* no-op after failure */
	elog_wire_put_u64(&w, 1);
	T_CHECK(elog_wire_frame_end(&w, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_EQ_INT(b.len, before); /* no half frame left behind */
	elog_buf_release(&b);
}

static void test_writer_string_too_long(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_err err;
	char *big = calloc(70000, 1);

	T_ASSERT(big);
	elog_buf_init(&b, 1 << 20);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_METADATA, 1);
	elog_wire_put_string(&w, big, 65535); /* exactly the maximum: fine */
	T_CHECK(!w.failed);
	elog_wire_put_string(&w, big, 65536);
	T_CHECK(w.failed);
	T_CHECK(elog_wire_frame_end(&w, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	T_EQ_INT(b.len, 0);
	free(big);
	elog_buf_release(&b);
}

static void test_reader_short_read_is_sticky(void)
{
	uint8_t body[5] = {1, 2, 3, 4, 5};
	struct elog_wire_r r;
	struct elog_err err;
	const char *s;
	size_t len;

	elog_wire_r_init(&r, body, sizeof(body));
	elog_wire_r_field(&r, "first");
	T_EQ_INT(elog_wire_get_u32(&r), 0x04030201);
	elog_wire_r_field(&r, "second");
	T_EQ_INT(elog_wire_get_u16(&r), 0); /* only 1 byte left */
	T_CHECK(r.failed);
	/* After a failure every get returns zero/empty, even ones that would fit. */
	elog_wire_r_field(&r, "third");
	T_EQ_INT(elog_wire_get_u8(&r), 0);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(s != NULL && len == 0);
	T_CHECK(elog_wire_r_end(&r, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	/* The message names the first field that failed, not the last one tried. */
	T_CHECK(strstr(err.msg, "second") != NULL);
}

static void test_reader_string_longer_than_frame(void)
{
	uint8_t body[6] = {10, 0, 'a', 'b', 'c', 'd'}; /* says 10, has 4 */
	struct elog_wire_r r;
	struct elog_err err;
	const uint8_t *p;
	const char *s;
	size_t len;

	elog_wire_r_init(&r, body, sizeof(body));
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(r.failed && len == 0);
	T_CHECK(elog_wire_r_end(&r, &err) == -1);

	uint8_t bytes_body[8] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
	elog_wire_r_init(&r, bytes_body, sizeof(bytes_body));
	elog_wire_get_bytes(&r, &p, &len);
	T_CHECK(r.failed && len == 0 && p != NULL);
}

static void test_reader_count_bound(void)
{
	uint8_t body[4 + 16];
	struct elog_wire_r r;
	struct elog_err err;

	memset(body, 0, sizeof(body));
	/* 4 elements of >= 4 bytes fit in 16 bytes ... */
	elog_put32(body, 4);
	elog_wire_r_init(&r, body, sizeof(body));
	T_EQ_INT(elog_wire_get_count(&r, 4), 4);
	T_CHECK(!r.failed);
	/* ... 5 do not, and a huge count fails before anyone allocates for it. */
	elog_put32(body, 5);
	elog_wire_r_init(&r, body, sizeof(body));
	T_EQ_INT(elog_wire_get_count(&r, 4), 0);
	T_CHECK(r.failed);
	T_CHECK(elog_wire_r_end(&r, &err) == -1);
	elog_put32(body, UINT32_MAX);
	elog_wire_r_init(&r, body, sizeof(body));
	T_EQ_INT(elog_wire_get_count(&r, 1), 0);
	T_CHECK(r.failed);
	/* min_size 0 does not bound (elements may be empty) */
	elog_put32(body, 1000);
	elog_wire_r_init(&r, body, sizeof(body));
	T_EQ_INT(elog_wire_get_count(&r, 0), 1000);
	/* u32 * size must not overflow into a small number */
	elog_put32(body, 0x40000001u);
	elog_wire_r_init(&r, body, sizeof(body));
	T_EQ_INT(elog_wire_get_count(&r, 1u << 30), 0);
	T_CHECK(r.failed);
}

static void test_reader_leftover_bytes(void)
{
	uint8_t body[6] = {1, 0, 0, 0, 9, 9};
	struct elog_wire_r r;
	struct elog_err err;

	elog_wire_r_init(&r, body, sizeof(body));
	T_EQ_INT(elog_wire_get_u32(&r), 1);
	T_EQ_INT(elog_wire_r_left(&r), 2);
	T_CHECK(elog_wire_r_end(&r, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_CHECK(strstr(err.msg, "2 bytes left over") != NULL);
	/* An empty body read exactly is fine. */
	elog_wire_r_init(&r, body, 0);
	T_OK(elog_wire_r_end(&r, &err), &err);
}

static void test_topic_names(void)
{
	struct elog_err err;
	char name[300];

	T_OK(elog_topic_name_check("orders", 6, 0, &err), &err);
	T_OK(elog_topic_name_check("a.b_c-D9", 8, 0, &err), &err);
	T_OK(elog_topic_name_check("orders.retry.5m", 15, 0, &err), &err);
	T_OK(elog_topic_name_check("a..", 3, 0, &err), &err);
	T_OK(elog_topic_name_check("_x", 2, 0, &err), &err);
	/* A leading '.' is the broker's (.lock, .trash), so '.', '..' and '.x' are refused. */
	T_CHECK(elog_topic_name_check("...", 3, 0, &err) == -1);
	T_CHECK(elog_topic_name_check(".hidden", 7, 0, &err) == -1);
	T_CHECK(elog_topic_name_check("", 0, 0, &err) == -1);
	T_CHECK(elog_topic_name_check(".", 1, 0, &err) == -1);
	T_CHECK(elog_topic_name_check("..", 2, 0, &err) == -1);
	T_CHECK(elog_topic_name_check("a b", 3, 0, &err) == -1);
	T_CHECK(elog_topic_name_check("a/b", 3, 0, &err) == -1);
	T_CHECK(elog_topic_name_check("caf\xc3\xa9", 5, 0, &err) == -1);
	T_CHECK(elog_topic_name_check("a\0b", 3, 0, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	/* Reserved internal prefix. */
	T_CHECK(elog_topic_name_check("__offsets", 9, 0, &err) == -1);
	T_OK(elog_topic_name_check("__offsets", 9, 1, &err), &err);
	/* Length: 249 is the maximum. */
	memset(name, 'a', sizeof(name));
	T_OK(elog_topic_name_check(name, 249, 0, &err), &err);
	T_CHECK(elog_topic_name_check(name, 250, 0, &err) == -1);
}

static void test_error_table_complete(void)
{
	/* docs/protocol.md: retriable codes are exactly these. */
	static const int retriable[] = {ELOG_PE_NOT_LEADER, ELOG_PE_LEADER_UNKNOWN, ELOG_PE_TIMEOUT,
					ELOG_PE_SHUTTING_DOWN, ELOG_PE_RESOURCE_LIMIT,
					ELOG_PE_STORAGE_FULL, ELOG_PE_NOT_COORDINATOR,
					ELOG_PE_COORDINATOR_LOADING};

	for (int code = 0; code < ELOG_PE__COUNT; code++) {
		const char *name = elog_proto_error_name(code);
		const char *text = elog_proto_error_text(code);
		int want = 0;

		T_CHECK(name != NULL && strcmp(name, "UNKNOWN") != 0 && name[0]);
		T_CHECK(text != NULL && text[0] && strcmp(text, "unknown error code") != 0);
		/* names are UPPER_SNAKE, texts lowercase without a full stop */
		for (const char *c = name; *c; c++)
			T_CHECK((*c >= 'A' && *c <= 'Z') || *c == '_');
		T_CHECK(!(text[0] >= 'A' && text[0] <= 'Z'));
		T_CHECK(text[strlen(text) - 1] != '.');
		for (size_t i = 0; i < sizeof(retriable) / sizeof(retriable[0]); i++)
			want |= retriable[i] == code;
		T_EQ_INT(elog_proto_error_retriable(code) != 0, want);
	}
	T_CHECK(strcmp(elog_proto_error_name(ELOG_PE_UNKNOWN_TOPIC), "UNKNOWN_TOPIC") == 0);
	T_CHECK(strcmp(elog_proto_error_name(ELOG_PE__COUNT), "UNKNOWN") == 0);
	T_CHECK(strcmp(elog_proto_error_name(-1), "UNKNOWN") == 0);
	T_CHECK(!elog_proto_error_retriable(-1) && !elog_proto_error_retriable(1000));
	/* Names are distinct. */
	for (int a = 0; a < ELOG_PE__COUNT; a++)
		for (int b = a + 1; b < ELOG_PE__COUNT; b++)
			T_CHECK(strcmp(elog_proto_error_name(a), elog_proto_error_name(b)) != 0);
}

static void test_api_table_complete(void)
{
	for (int api = 1; api < ELOG_API__COUNT; api++)
		T_CHECK(strcmp(elog_api_name(api), "UNKNOWN") != 0);
	T_CHECK(strcmp(elog_api_name(0), "UNKNOWN") == 0);
	T_CHECK(strcmp(elog_api_name(ELOG_API__COUNT), "UNKNOWN") == 0);
	T_CHECK(strcmp(elog_api_name(ELOG_API_LIST_OFFSETS), "LIST_OFFSETS") == 0);
	/* docs/protocol.md's numbering. */
	T_EQ_INT(ELOG_API_METADATA, 1);
	T_EQ_INT(ELOG_API_PRODUCE, 7);
	T_EQ_INT(ELOG_API_FETCH, 8);
	T_EQ_INT(ELOG_API_LIST_OFFSETS, 9);
	T_EQ_INT(ELOG_PE_RESOURCE_LIMIT, 22);
}

int main(void)
{
	T_RUN(test_round_trip_every_primitive);
	T_RUN(test_response_frame);
	T_RUN(test_several_frames_in_one_buffer);
	T_RUN(test_header_limits);
	T_RUN(test_writer_sticky_cap);
	T_RUN(test_writer_string_too_long);
	T_RUN(test_reader_short_read_is_sticky);
	T_RUN(test_reader_string_longer_than_frame);
	T_RUN(test_reader_count_bound);
	T_RUN(test_reader_leftover_bytes);
	T_RUN(test_topic_names);
	T_RUN(test_error_table_complete);
	T_RUN(test_api_table_complete);
	return t_finish();
}
