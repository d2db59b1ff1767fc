/*
 * fuzz_frame — libFuzzer target for the wire protocol's frames (proto.h) and
 * the client's side of it (client.h).
 *
 * Each input is used three ways:
 *   1. as a stream of frames: elog_frame_header_decode with a small limit,
 *      then every complete frame's body is walked with the proto reader
 *      (a) as the request of its api, laid out as docs/protocol.md says
 *      (small strict decoders below, the way a broker reads them), and
 *      (b) as the response of its api, through the client's own decoders
 *      (metadata, describe, produce and fetch results, list offsets), with
 *      fetched batches opened and walked by elog_batch_reader;
 *   2. as the bytes a broker sends on a connection: an elog_conn over a
 *      socketpair, with four requests in flight (METADATA, PRODUCE, FETCH,
 *      LIST_OFFSETS, correlation ids 1..4), reads the input and hands out
 *      the responses it can match, until it reports the connection broken;
 *      every response taken is decoded as in 1b.
 * Nothing may crash, leak, read out of bounds or allocate past the bounds
 * (frame limit, counts checked against the bytes left). Decoded values are
 * checked against the reader's invariants (spans inside the frame).
 *
 * With ELOG_FUZZ_SEEDS=<dir>, LLVMFuzzerInitialize writes well-formed
 * frames of every api into <dir> first (tests/fuzz/run does this).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "batch.h"
#include "bytes.h"
#include "client.h"
#include "client_int.h"
#include "proto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME_LIMIT (1u << 20)
#define REQUIRE(cond) do { if (!(cond)) { \
		fprintf(stderr, "fuzz_frame: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

static struct elog_batch_reader reader;
static struct elog_record_view view;

/* ---------------------------------------------------------------- requests */

static void get_configs(struct elog_wire_r *r)
{
	uint32_t n = elog_wire_get_count(r, 4);
	const char *s;
	size_t len;

	for (uint32_t i = 0; i < n && !r->failed; i++) {
		elog_wire_get_string(r, &s, &len);
		elog_wire_get_string(r, &s, &len);
	}
}

static void get_topic_list(struct elog_wire_r *r)
{
	uint32_t n = elog_wire_get_count(r, 2);
	const char *s;
	size_t len;

	for (uint32_t i = 0; i < n && !r->failed; i++) {
		elog_wire_get_string(r, &s, &len);
		REQUIRE(s != NULL);
		(void)elog_topic_name_check(s, len, 1, NULL);
	}
}

/* Walk record batches in a bytes field the way the broker's produce path checks them. */
static void walk_batches(const uint8_t *p, size_t len, int decode_records)
{
	int guard = 0;

	while (len >= ELOG_BATCH_HEADER_SIZE && guard++ < 64) {
		struct elog_batch_header h;
		size_t total;

		if (elog_batch_header_decode(p, len, &h, NULL) < 0)
			return;
		total = elog_batch_total_size(&h);
		if (total > len)
			return;
		if (decode_records && elog_batch_reader_open(&reader, p, total, NULL) == 0) {
			int rc, n = 0;
			while ((rc = elog_batch_reader_next(&reader, &view, NULL)) == 1) {
				REQUIRE(view.value_len == -1 || view.value != NULL);
				n++;
			}
			REQUIRE(rc < 0 || (uint32_t)n == h.record_count);
		} else {
			(void)elog_batch_check(p, total, NULL, NULL);
		}
		p += total;
		len -= total;
	}
}

static void decode_request(uint16_t api, const uint8_t *body, size_t len)
{
	struct elog_wire_r r;
	const char *s;
	const uint8_t *bytes;
	size_t slen, blen;
	uint32_t tn;

	elog_wire_r_init(&r, body, len);
	switch (api) {
	case ELOG_API_METADATA:
	case ELOG_API_DESCRIBE_TOPICS:
		get_topic_list(&r);
		break;
	case ELOG_API_CREATE_TOPIC:
		elog_wire_get_string(&r, &s, &slen);
		(void)elog_wire_get_u32(&r);
		(void)elog_wire_get_u16(&r);
		get_configs(&r);
		break;
	case ELOG_API_DELETE_TOPIC:
		elog_wire_get_string(&r, &s, &slen);
		break;
	case ELOG_API_ALTER_TOPIC:
		elog_wire_get_string(&r, &s, &slen);
		(void)elog_wire_get_u32(&r);
		get_configs(&r);
		break;
	case ELOG_API_INIT_PRODUCER:
		break;
	case ELOG_API_PRODUCE:
		(void)elog_wire_get_i8(&r);
		(void)elog_wire_get_u32(&r);
		tn = elog_wire_get_count(&r, 2 + 4);
		for (uint32_t t = 0; t < tn && !r.failed; t++) {
			uint32_t pn;
			elog_wire_get_string(&r, &s, &slen);
			pn = elog_wire_get_count(&r, 4 + 4);
			for (uint32_t k = 0; k < pn && !r.failed; k++) {
				(void)elog_wire_get_u32(&r);
				elog_wire_get_bytes(&r, &bytes, &blen);
				REQUIRE(bytes != NULL && (blen == 0 || (bytes >= body && bytes + blen <= body + len)));
				walk_batches(bytes, blen, 0);
			}
		}
		break;
	case ELOG_API_FETCH:
		(void)elog_wire_get_u32(&r);
		(void)elog_wire_get_u32(&r);
		(void)elog_wire_get_u32(&r);
		tn = elog_wire_get_count(&r, 2 + 4);
		for (uint32_t t = 0; t < tn && !r.failed; t++) {
			uint32_t pn;
			elog_wire_get_string(&r, &s, &slen);
			pn = elog_wire_get_count(&r, 4 + 8 + 4);
			for (uint32_t k = 0; k < pn && !r.failed; k++) {
				(void)elog_wire_get_u32(&r);
				(void)elog_wire_get_i64(&r);
				(void)elog_wire_get_u32(&r);
			}
		}
		break;
	case ELOG_API_LIST_OFFSETS:
		tn = elog_wire_get_count(&r, 2 + 4);
		for (uint32_t t = 0; t < tn && !r.failed; t++) {
			uint32_t qn;
			elog_wire_get_string(&r, &s, &slen);
			qn = elog_wire_get_count(&r, 4 + 8);
			for (uint32_t k = 0; k < qn && !r.failed; k++) {
				(void)elog_wire_get_u32(&r);
				(void)elog_wire_get_i64(&r);
			}
		}
		break;
	case ELOG_API_DELETE_RECORDS:
		(void)elog_wire_get_u32(&r);
		(void)elog_wire_get_u8(&r);
		tn = elog_wire_get_count(&r, 2 + 4);
		for (uint32_t t = 0; t < tn && !r.failed; t++) {
			uint32_t pn;
			elog_wire_get_string(&r, &s, &slen);
			pn = elog_wire_get_count(&r, 4 + 8);
			for (uint32_t k = 0; k < pn && !r.failed; k++) {
				(void)elog_wire_get_u32(&r);
				(void)elog_wire_get_i64(&r);
			}
		}
		break;
	default:
		return;
	}
	/* Strictness: a clean end means every byte was consumed. */
	if (elog_wire_r_end(&r, NULL) == 0)
		REQUIRE(r.pos == r.end && !r.failed);
	else
		REQUIRE(r.failed || r.pos != r.end);
}

/* ---------------------------------------------------------------- responses */

static int on_fetch_result(void *ctx, const struct elog_fetch_result *res, struct elog_err *err)
{
	const struct elog_wire_r *r = ctx;

	(void)err;
	REQUIRE(res->batches != NULL);
	REQUIRE(res->batches_len == 0 ||
		(res->batches >= r->start && res->batches + res->batches_len <= r->end));
	walk_batches(res->batches, res->batches_len, 1);
	return 0;
}

static int on_produce_result(void *ctx, const struct elog_produce_result *res, struct elog_err *err)
{
	(void)ctx;
	(void)err;
	REQUIRE(res->topic != NULL && res->message != NULL);
	return 0;
}

static void decode_response(uint16_t api, uint16_t version, const uint8_t *body, size_t len)
{
	struct elog_wire_r r;
	struct elog_metadata md;
	struct elog_topic_descriptions d;
	const char *msg;
	size_t msg_len;
	int16_t code;

	elog_wire_r_init(&r, body, len);
	code = elog_wire_get_response_error(&r, &msg, &msg_len);
	if (r.failed)
		return;
	REQUIRE(msg != NULL && msg + msg_len <= (const char *)body + len);
	(void)elog_proto_error_name(code);
	(void)elog_proto_error_text(code);
	if (code != 0)
		return;
	switch (api) {
	case ELOG_API_METADATA:
		if (elog_metadata_decode(&r, &md, NULL) == 0) {
			for (uint32_t i = 0; i < md.topic_count; i++) {
				REQUIRE(md.topics[i].name != NULL);
				for (uint32_t k = 1; k < md.topics[i].partition_count; k++)
					REQUIRE(md.topics[i].partitions[k - 1].id <= md.topics[i].partitions[k].id);
				(void)elog_metadata_topic(&md, md.topics[i].name);
			}
			elog_metadata_release(&md);
		}
		break;
	case ELOG_API_DESCRIBE_TOPICS:
		if (elog_describe_decode(&r, version, &d, NULL) == 0)
			elog_topic_descriptions_release(&d);
		break;
	case ELOG_API_PRODUCE:
		(void)elog_produce_response_walk(&r, on_produce_result, NULL, NULL);
		break;
	case ELOG_API_FETCH:
		(void)elog_fetch_response_walk(&r, on_fetch_result, &r, NULL);
		break;
	case ELOG_API_INIT_PRODUCER:
		(void)elog_wire_get_i64(&r);
		(void)elog_wire_get_i16(&r);
		(void)elog_wire_r_end(&r, NULL);
		break;
	default:
		(void)elog_wire_r_end(&r, NULL);
		break;
	}
}

/* ---------------------------------------------------------------- stream of frames */

static void walk_frames(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= ELOG_FRAME_HEADER_SIZE) {
		struct elog_frame_header h;
		size_t total;
		uint16_t api;

		if (elog_frame_header_decode(data + off, size - off, FRAME_LIMIT, &h, NULL) < 0)
			return;
		REQUIRE(h.length >= 8 && h.length <= FRAME_LIMIT);
		total = (size_t)h.length + ELOG_FRAME_PREFIX_SIZE;
		if (total > size - off)
			return;
		api = (uint16_t)(h.api & ~ELOG_API_RESPONSE);
		decode_request(api, data + off + 12, total - 12);
		decode_response(api, h.version, data + off + 12, total - 12);
		off += total;
	}
}

/* ---------------------------------------------------------------- a connection */

static void feed_connection(const uint8_t *data, size_t size)
{
	static const uint16_t apis[4] = {ELOG_API_METADATA, ELOG_API_PRODUCE, ELOG_API_FETCH,
					 ELOG_API_LIST_OFFSETS};
	struct elog_conn_config cfg;
	struct elog_conn c;
	struct elog_response resp;
	struct elog_wire_w w;
	int sv[2], taken = 0;
	uint32_t cid;

	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	elog_conn_config_init(&cfg);
	cfg.frame_bytes_max = FRAME_LIMIT;
	cfg.in_flight_max = 8;
	elog_conn_init(&c, &cfg);
	elog_response_init(&resp, FRAME_LIMIT);
	/* An open connection without connect(): the pending table is allocated as connect would. */
	c.pending = calloc(cfg.in_flight_max, sizeof(*c.pending));
	REQUIRE(c.pending != NULL);
	c.fd = sv[0];
	for (int i = 0; i < 4; i++) {
		REQUIRE(elog_conn_request_begin(&c, &w, apis[i], &cid, NULL) == 0);
		REQUIRE(cid == (uint32_t)i + 1);
		elog_wire_put_u32(&w, 0);
		REQUIRE(elog_conn_request_end(&c, &w, 1, (uint64_t)i, 0, NULL) == 0);
	}
	REQUIRE(c.pending_count == 4);
	if (size && write(sv[1], data, size) != (ssize_t)size) {
		close(sv[1]);
		elog_conn_release(&c);
		elog_response_release(&resp);
		return;
	}
	close(sv[1]); /* the broker hangs up after the input */
	for (int round = 0; round < 64; round++) {
		int rc;
		REQUIRE(elog_conn_io(&c, POLLIN | POLLOUT, 0, NULL) == 0);
		while ((rc = elog_conn_recv(&c, &resp, NULL)) > 0) {
			REQUIRE(resp.tag < 4 && resp.api == apis[resp.tag]);
			REQUIRE(resp.correlation_id == (uint32_t)resp.tag + 1);
			REQUIRE(resp.body == resp.frame.data + 12);
			decode_response(resp.api, resp.version, resp.body, resp.body_len);
			taken++;
		}
		if (rc < 0)
			break;
	}
	/* EOF always ends it: broken and closed, nothing left in flight. */
	REQUIRE(!elog_conn_is_open(&c));
	REQUIRE(c.pending_count == 0);
	REQUIRE(taken <= 4);
	elog_conn_release(&c); /* closes sv[0] */
	elog_response_release(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk_frames(data, size);
	feed_connection(data, size);
	return 0;
}

/* ---------------------------------------------------------------- seeds */

static void seed_write(const char *dir, const char *name, const struct elog_buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(b->data, 1, b->len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	struct elog_batch_builder bb;
	struct elog_record rec;
	const uint8_t *batch;
	size_t batch_len;
	struct elog_buf b;
	struct elog_wire_w w;

	memset(&rec, 0, sizeof(rec));
	rec.timestamp_ms = 1700000000000;
	rec.value = (const uint8_t *)"{\"id\":1}";
	rec.value_len = 8;
	rec.key = (const uint8_t *)"k";
	rec.key_len = 1;
	elog_batch_builder_init(&bb, ELOG_COMPRESS_NONE, 0);
	elog_batch_builder_add(&bb, &rec, NULL);
	elog_batch_builder_add(&bb, &rec, NULL);
	if (elog_batch_builder_finish(&bb, &batch, &batch_len, NULL) < 0)
		return;
	elog_buf_init(&b, 1 << 20);

	/* Responses, correlation ids 1..4 as feed_connection expects. */
	elog_wire_w_init(&w, &b);
	elog_wire_response_begin(&w, &(struct elog_frame_header){.api = ELOG_API_METADATA, .version = 1, .correlation_id = 1}, 0, NULL);
	elog_wire_put_i32(&w, 0);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_i32(&w, 0);
	elog_wire_put_cstring(&w, "127.0.0.1");
	elog_wire_put_u16(&w, 7411);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_i16(&w, 0);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_i16(&w, 0);
	elog_wire_put_i32(&w, 0);
	elog_wire_put_i64(&w, 1);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_i32(&w, 0);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_i32(&w, 0);
	elog_wire_frame_end(&w, NULL);
	seed_write(dir, "metadata-response", &b);

	elog_wire_w_init(&w, &b);
	elog_wire_response_begin(&w, &(struct elog_frame_header){.api = ELOG_API_FETCH, .version = 1, .correlation_id = 3}, 0, NULL);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_i16(&w, 0);
	elog_wire_put_cstring(&w, "");
	elog_wire_put_i64(&w, 2);
	elog_wire_put_i64(&w, 0);
	elog_wire_put_bytes(&w, batch, batch_len);
	elog_wire_frame_end(&w, NULL);
	seed_write(dir, "metadata-fetch-responses", &b);

	elog_buf_reset(&b);
	elog_wire_w_init(&w, &b);
	elog_wire_response_begin(&w, &(struct elog_frame_header){.api = ELOG_API_PRODUCE, .version = 1, .correlation_id = 2}, 0, NULL);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_i16(&w, ELOG_PE_NOT_LEADER);
	elog_wire_put_cstring(&w, "not the leader");
	elog_wire_put_i64(&w, -1);
	elog_wire_put_i64(&w, -1);
	elog_wire_frame_end(&w, NULL);
	elog_wire_w_init(&w, &b);
	elog_wire_response_begin(&w, &(struct elog_frame_header){.api = ELOG_API_LIST_OFFSETS, .version = 1, .correlation_id = 4}, 0, NULL);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_i16(&w, 0);
	elog_wire_put_cstring(&w, "");
	elog_wire_put_i64(&w, 42);
	elog_wire_frame_end(&w, NULL);
	seed_write(dir, "produce-list-responses", &b);

	/* Requests. */
	elog_buf_reset(&b);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_PRODUCE, 7);
	elog_wire_put_i8(&w, -1);
	elog_wire_put_u32(&w, 30000);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_bytes(&w, batch, batch_len);
	elog_wire_frame_end(&w, NULL);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_CREATE_TOPIC, 8);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_u32(&w, 3);
	elog_wire_put_u16(&w, 1);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "retention");
	elog_wire_put_cstring(&w, "7d");
	elog_wire_frame_end(&w, NULL);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_FETCH, 9);
	{
		struct elog_fetch_request_part part = {"orders", 0, 0, 1 << 20};
		elog_encode_fetch(&w, 500, 1, 1 << 20, &part, 1);
	}
	elog_wire_frame_end(&w, NULL);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_DELETE_RECORDS, 10);
	elog_wire_put_u32(&w, 30000);
	elog_wire_put_u8(&w, 0);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "orders");
	elog_wire_put_u32(&w, 2);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_i64(&w, 120);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_i64(&w, -1);
	elog_wire_frame_end(&w, NULL);
	seed_write(dir, "requests", &b);

	elog_buf_release(&b);
	elog_batch_builder_release(&bb);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("ELOG_FUZZ_SEEDS");

	(void)argc;
	(void)argv;
	elog_batch_reader_init(&reader);
	if (dir && *dir)
		write_seeds(dir);
	return 0;
}
