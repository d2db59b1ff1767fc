/*
 * Unit tests: client — broker lists, backoff, batching decisions, request
 * encodings checked field by field against docs/protocol.md with the proto
 * reader, response decoding from hand-built frames, and the connection,
 * producer and fetcher against a small in-process fake broker (a thread on
 * 127.0.0.1, port 0) whose faults the tests switch on: retriable errors,
 * connections dropped after an append, responses sent in reverse order,
 * permanent per-partition errors, no auto-creation. No real broker needed.
 */
#include "t.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "batch.h"
#include "bytes.h"
#include "client.h"
#include "client_int.h"
#include "crc32c.h"
#include "partition.h"
#include "proto.h"

/* ================================================================ fake broker */

#define FB_TOPICS 8
#define FB_PARTS 16
#define FB_BATCHES 4096
#define FB_CONNS 32
#define FB_PRODUCERS 64

struct fb_batch {
	uint8_t *data;
	size_t len;
	int64_t base, last;
	int64_t pid;
	int32_t seq;
	uint32_t count;
};

struct fb_part {
	struct fb_batch batches[FB_BATCHES];
	size_t nbatches;
	int64_t hw;
	int64_t log_start;
};

struct fb_topic {
	char name[64];
	uint32_t nparts;
	struct fb_part *parts[FB_PARTS];
};

struct fb_conn {
	int fd;
	struct elog_buf in, out;
	struct elog_buf held[16];
	int nheld;
};

/* A broker of the fake cluster as metadata names it (a fake, or an address
 * where nothing answers). */
struct fb_addr {
	int32_t id;
	uint16_t port;
};

/*
 * A fake cluster: fakes made with fb_start_peer(owner) share the owner's
 * topics and lock (one replicated log, as far as clients can tell), and
 * each answers NOT_LEADER for a partition whose leader (owner->leaders) is
 * not its id. The owner's broker list is what METADATA names.
 */
struct fb {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_mutex_t *lock;            /* &owner->mu */
	struct fb *owner;                 /* itself, or the fake whose topics it shares */
	int32_t id;
	struct fb_addr brokers[4];        /* owner: the cluster as METADATA tells it */
	int nbrokers;
	int32_t leaders[FB_PARTS];        /* owner: leader id of partition i of every topic */
	int32_t controller;               /* owner */
	int not_leader_answers;           /* NOT_LEADER answers given */
	int stall;                        /* read nothing from connections (a stopped broker) */
	int64_t unstall_at_ms;            /* with stall: end it at this elog_clock_ms() (0: never) */
	int sequence_errors;              /* UNKNOWN_PRODUCER / OUT_OF_ORDER_SEQUENCE answers */
	int listen_fd, wake[2];
	uint16_t port;
	int stop;
	struct fb_topic topics[FB_TOPICS];
	int ntopics;
	struct fb_conn conns[FB_CONNS];
	int64_t next_pid;
	/* faults */
	int auto_create;
	uint32_t default_partitions;
	int produce_errors_left;          /* answer this many produce requests with ... */
	int16_t produce_error;            /* ... this code on every partition */
	int drop_after_append_left;       /* append, then close without answering */
	int16_t error_after_drop;         /* after that drop, answer produce requests with this */
	int errors_after_drop;            /* ... so many of them */
	int time_out_every;               /* append, then answer TIMEOUT, every Nth produce */
	int drop_after_create_left;       /* create, then close without answering */
	int unknown_after_create_left;    /* create, then answer LEADER_UNKNOWN (a deposed controller) */
	int hold_produce;                 /* hold this many produce answers, send reversed */
	int bad_partition;                /* -1 or a partition answered with bad_error always */
	int16_t bad_error;
	int old_version;                  /* answer like a broker before per-api versions */
	/* counters */
	int produce_requests, fetch_requests, duplicates, init_producers, metadata_creates;
	int dup_then_more;                /* a duplicate batch with more batches after it in one
	                                     partition's data: its one base offset is ambiguous */
};

static struct fb_topic *fb_topic(struct fb *fb, const char *name, size_t len)
{
	fb = fb->owner;
	for (int i = 0; i < fb->ntopics; i++)
		if (strlen(fb->topics[i].name) == len && memcmp(fb->topics[i].name, name, len) == 0)
			return &fb->topics[i];
	return NULL;
}

static struct fb_topic *fb_create(struct fb *fb, const char *name, size_t len, uint32_t parts)
{
	struct fb_topic *t;

	fb = fb->owner;
	if (fb->ntopics == FB_TOPICS || len >= sizeof(t->name) || parts == 0 || parts > FB_PARTS)
		return NULL;
	t = &fb->topics[fb->ntopics++];
	memcpy(t->name, name, len);
	t->name[len] = '\0';
	t->nparts = parts;
	for (uint32_t i = 0; i < parts; i++)
		t->parts[i] = calloc(1, sizeof(struct fb_part));
	return t;
}

static void fb_put_partition_meta(struct fb *o, struct elog_wire_w *w, uint32_t p)
{
	int32_t leader = o->leaders[p];

	elog_wire_put_u32(w, p);
	elog_wire_put_i16(w, leader < 0 ? ELOG_PE_LEADER_UNKNOWN : 0);
	elog_wire_put_i32(w, leader);
	elog_wire_put_i64(w, 1);
	elog_wire_put_u32(w, 1);
	elog_wire_put_i32(w, leader);
	elog_wire_put_u32(w, 1);
	elog_wire_put_i32(w, leader);
}

/* Does this fake lead partition p? Else put NOT_LEADER in *code. */
static int fb_leads(struct fb *fb, uint32_t p, int16_t *code, char *msg, size_t cap)
{
	int32_t leader = p < FB_PARTS ? fb->owner->leaders[p] : fb->id;

	if (leader == fb->id)
		return 1;
	fb->not_leader_answers++;
	*code = leader < 0 ? ELOG_PE_LEADER_UNKNOWN : ELOG_PE_NOT_LEADER;
	snprintf(msg, cap, leader < 0 ? "no leader" : "leader is broker %d", (int)leader);
	return 0;
}

static void fb_put_metadata(struct fb *fb, uint16_t version, struct elog_wire_w *w,
			    struct elog_wire_r *r)
{
	uint32_t n = elog_wire_get_count(r, 2);
	struct elog_wire_r names = *r;
	int allow_auto_create = 0;

	/* Version 2 ends with allow_auto_create, after the names. */
	for (uint32_t i = 0; i < n; i++) {
		const char *name;
		size_t len;
		elog_wire_get_string(&names, &name, &len);
	}
	if (version >= 2)
		allow_auto_create = elog_wire_get_u8(&names);
	fb->metadata_creates += allow_auto_create;

	struct fb *o = fb->owner;

	elog_wire_put_i32(w, o->controller);
	elog_wire_put_u32(w, (uint32_t)o->nbrokers);
	for (int i = 0; i < o->nbrokers; i++) {
		elog_wire_put_i32(w, o->brokers[i].id);
		elog_wire_put_cstring(w, "127.0.0.1");
		elog_wire_put_u16(w, o->brokers[i].port);
	}
	fb = o;
	if (n == 0) {
		elog_wire_put_u32(w, (uint32_t)fb->ntopics);
		for (int i = 0; i < fb->ntopics; i++) {
			struct fb_topic *t = &fb->topics[i];
			elog_wire_put_cstring(w, t->name);
			elog_wire_put_i16(w, 0);
			elog_wire_put_u32(w, t->nparts);
			for (uint32_t p = 0; p < t->nparts; p++)
				fb_put_partition_meta(o, w, p);
		}
		return;
	}
	elog_wire_put_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		const char *name;
		size_t len;
		struct fb_topic *t;
		elog_wire_get_string(r, &name, &len);
		t = fb_topic(fb, name, len);
		if (!t && allow_auto_create && fb->auto_create)
			t = fb_create(fb, name, len, fb->default_partitions);
		elog_wire_put_string(w, name, len);
		elog_wire_put_i16(w, t ? 0 : ELOG_PE_UNKNOWN_TOPIC);
		elog_wire_put_u32(w, t ? t->nparts : 0);
		for (uint32_t p = 0; t && p < t->nparts; p++)
			fb_put_partition_meta(o, w, p);
	}
}

/* Append one partition's batches with idempotent dedup; returns the error code. */
static int16_t fb_append(struct fb *fb, struct fb_part *part, const uint8_t *p, size_t len,
			 int64_t *base_out)
{
	int64_t first = -1;

	while (len) {
		struct elog_batch_header h;
		struct fb_batch *b;
		int dup = 0;

		if (elog_batch_check(p, len, &h, NULL) < 0)
			return ELOG_PE_CORRUPT_BATCH;
		if (h.producer_id >= 0) {
			int32_t last_seq = -1;
			int known = 0;
			for (size_t i = 0; i < part->nbatches; i++) {
				struct fb_batch *o = &part->batches[i];
				if (o->pid != h.producer_id)
					continue;
				known = 1;
				last_seq = o->seq + (int32_t)o->count - 1;
				if (o->seq == h.base_sequence && o->count == h.record_count) {
					dup = 1;
					if (first < 0)
						first = o->base;
				}
			}
			if (dup) {
				fb->duplicates++;
				p += elog_batch_total_size(&h);
				len -= elog_batch_total_size(&h);
				if (len)
					fb->dup_then_more++;
				continue;
			}
			if (!known && h.base_sequence != 0)
				return ELOG_PE_UNKNOWN_PRODUCER;
			if (known && h.base_sequence != last_seq + 1)
				return ELOG_PE_OUT_OF_ORDER_SEQUENCE;
		}
		if (part->nbatches == FB_BATCHES)
			return ELOG_PE_RESOURCE_LIMIT;
		b = &part->batches[part->nbatches++];
		b->len = elog_batch_total_size(&h);
		b->data = malloc(b->len);
		memcpy(b->data, p, b->len);
		elog_batch_assign(b->data, part->hw, 1);
		b->base = part->hw;
		b->last = part->hw + h.last_offset_delta;
		b->pid = h.producer_id;
		b->seq = h.base_sequence;
		b->count = h.record_count;
		if (first < 0)
			first = b->base;
		part->hw = b->last + 1;
		p += b->len;
		len -= b->len;
	}
	*base_out = first;
	return 0;
}

/* PRODUCE; returns 1 to drop the connection without answering. Version 1
 * creates a missing topic when auto_create is on; version 2 never does. */
static int fb_produce(struct fb *fb, uint16_t version, struct elog_wire_w *w,
		      struct elog_wire_r *r)
{
	int8_t acks = elog_wire_get_i8(r);
	uint32_t tn;
	int injected = fb->produce_errors_left > 0;

	(void)elog_wire_get_u32(r);
	fb->produce_requests++;
	if (injected)
		fb->produce_errors_left--;
	tn = elog_wire_get_count(r, 6);
	elog_wire_put_u32(w, tn);
	for (uint32_t i = 0; i < tn; i++) {
		const char *name;
		size_t len;
		uint32_t pn;
		struct fb_topic *t;

		elog_wire_get_string(r, &name, &len);
		t = fb_topic(fb, name, len);
		if (!t && fb->auto_create && version < 2)
			t = fb_create(fb, name, len, fb->default_partitions);
		elog_wire_put_string(w, name, len);
		pn = elog_wire_get_count(r, 8);
		elog_wire_put_u32(w, pn);
		for (uint32_t k = 0; k < pn; k++) {
			uint32_t id = elog_wire_get_u32(r);
			const uint8_t *batches;
			size_t blen;
			int16_t code = 0;
			int64_t base = -1;
			char msg[64] = "";

			elog_wire_get_bytes(r, &batches, &blen);
			if (!t)
				code = ELOG_PE_UNKNOWN_TOPIC;
			else if (id >= t->nparts)
				code = ELOG_PE_UNKNOWN_PARTITION;
			else if (!fb_leads(fb, id, &code, msg, sizeof(msg)))
				;
			else if (injected)
				code = fb->produce_error;
			else if ((int)id == fb->bad_partition)
				code = fb->bad_error;
			else
				code = fb_append(fb, t->parts[id], batches, blen, &base);
			/* An acks=all or fsync wait that timed out after the append. */
			if (code == 0 && fb->time_out_every && fb->produce_requests % fb->time_out_every == 0) {
				code = ELOG_PE_TIMEOUT;
				base = -1;
			}
			if (code == ELOG_PE_UNKNOWN_PRODUCER || code == ELOG_PE_OUT_OF_ORDER_SEQUENCE)
				fb->sequence_errors++;
			elog_wire_put_u32(w, id);
			elog_wire_put_i16(w, code);
			elog_wire_put_cstring(w, msg[0] ? msg : code ? elog_proto_error_text(code) : "");
			elog_wire_put_i64(w, code ? -1 : base);
			elog_wire_put_i64(w, 0);
		}
	}
	if (fb->drop_after_append_left > 0 && !injected) {
		fb->drop_after_append_left--;
		if (fb->error_after_drop) {
			fb->produce_errors_left = fb->errors_after_drop;
			fb->produce_error = fb->error_after_drop;
		}
		return 1;
	}
	return acks == 0 ? 2 : 0;
}

static void fb_fetch(struct fb *fb, struct elog_wire_w *w, struct elog_wire_r *r)
{
	uint32_t tn, max_bytes;

	(void)elog_wire_get_u32(r);
	(void)elog_wire_get_u32(r);
	max_bytes = elog_wire_get_u32(r);
	(void)max_bytes;
	fb->fetch_requests++;
	tn = elog_wire_get_count(r, 6);
	elog_wire_put_u32(w, tn);
	for (uint32_t i = 0; i < tn; i++) {
		const char *name;
		size_t len;
		uint32_t pn;
		struct fb_topic *t;

		elog_wire_get_string(r, &name, &len);
		t = fb_topic(fb, name, len);
		elog_wire_put_string(w, name, len);
		pn = elog_wire_get_count(r, 16);
		elog_wire_put_u32(w, pn);
		for (uint32_t k = 0; k < pn; k++) {
			uint32_t id = elog_wire_get_u32(r);
			int64_t off = elog_wire_get_i64(r);
			uint32_t pmax = elog_wire_get_u32(r);
			struct fb_part *part = t && id < t->nparts ? t->parts[id] : NULL;
			size_t pos, sent = 0;
			int16_t code = 0;
			char msg[64] = "";

			if (!part)
				code = ELOG_PE_UNKNOWN_PARTITION;
			else if (!fb_leads(fb, id, &code, msg, sizeof(msg)))
				part = NULL;
			else if (off < part->log_start || off > part->hw)
				code = ELOG_PE_OFFSET_OUT_OF_RANGE;
			elog_wire_put_u32(w, id);
			elog_wire_put_i16(w, code);
			elog_wire_put_cstring(w, msg[0] ? msg : code ? elog_proto_error_text(code) : "");
			elog_wire_put_i64(w, part ? part->hw : -1);
			elog_wire_put_i64(w, part ? part->log_start : -1);
			pos = elog_wire_put_count(w, 0);
			for (size_t b = 0; !code && b < part->nbatches; b++) {
				struct fb_batch *fbb = &part->batches[b];
				if (fbb->last < off)
					continue;
				if (sent && sent + fbb->len > pmax)
					break;
				elog_wire_put_raw(w, fbb->data, fbb->len);
				sent += fbb->len;
			}
			elog_wire_patch_count(w, pos, (uint32_t)sent);
		}
	}
}

static void fb_list_offsets(struct fb *fb, struct elog_wire_w *w, struct elog_wire_r *r)
{
	uint32_t tn = elog_wire_get_count(r, 6);
	struct elog_batch_reader br;
	struct elog_record_view v;

	elog_batch_reader_init(&br);
	elog_wire_put_u32(w, tn);
	for (uint32_t i = 0; i < tn; i++) {
		const char *name;
		size_t len;
		uint32_t qn;
		struct fb_topic *t;

		elog_wire_get_string(r, &name, &len);
		t = fb_topic(fb, name, len);
		elog_wire_put_string(w, name, len);
		qn = elog_wire_get_count(r, 12);
		elog_wire_put_u32(w, qn);
		for (uint32_t k = 0; k < qn; k++) {
			uint32_t id = elog_wire_get_u32(r);
			int64_t ts = elog_wire_get_i64(r), off = -1;
			struct fb_part *part = t && id < t->nparts ? t->parts[id] : NULL;
			int16_t code = part ? 0 : ELOG_PE_UNKNOWN_PARTITION;
			char msg[64] = "";

			if (part && !fb_leads(fb, id, &code, msg, sizeof(msg)))
				part = NULL;
			if (part && ts == -1)
				off = part->hw;
			else if (part && ts == -2)
				off = part->log_start;
			else if (part) {
				off = part->hw;
				for (size_t b = 0; b < part->nbatches && off == part->hw; b++) {
					if (elog_batch_reader_open(&br, part->batches[b].data, part->batches[b].len, NULL) < 0)
						break;
					while (elog_batch_reader_next(&br, &v, NULL) == 1)
						if (v.timestamp_ms >= ts) {
							off = v.offset;
							break;
						}
				}
			}
			elog_wire_put_u32(w, id);
			elog_wire_put_i16(w, code);
			elog_wire_put_cstring(w, msg);
			elog_wire_put_i64(w, off);
		}
	}
	elog_batch_reader_release(&br);
}

/* Handle one request frame; 1: close the connection without answering. */
static int fb_handle(struct fb *fb, struct fb_conn *c, const uint8_t *frame, size_t len)
{
	struct elog_frame_header h;
	struct elog_wire_r r;
	struct elog_wire_w w;
	struct elog_buf *out = &c->out;
	int drop = 0;

	if (elog_frame_header_decode(frame, len, 1u << 26, &h, NULL) < 0)
		return 1;
	if (fb->old_version && h.version != 1) {
		/* Before per-api versions a broker refused any version but 1, in 1. */
		h.version = 1;
		elog_wire_w_init(&w, out);
		elog_wire_response_begin(&w, &h, ELOG_PE_UNSUPPORTED_VERSION,
					 "version 2 of METADATA is not supported (this broker speaks 1)");
		return elog_wire_frame_end(&w, NULL) < 0;
	}
	elog_wire_r_init(&r, frame + 12, len - 12);
	if (h.api == ELOG_API_PRODUCE && fb->hold_produce > 0 && c->nheld < 16) {
		out = &c->held[c->nheld++];
		elog_buf_reset(out);
	}
	elog_wire_w_init(&w, out);
	elog_wire_response_begin(&w, &h, 0, NULL);
	switch (h.api) {
	case ELOG_API_METADATA:
		fb_put_metadata(fb, h.version, &w, &r);
		break;
	case ELOG_API_INIT_PRODUCER:
		fb->init_producers++;
		elog_wire_put_i64(&w, fb->owner->next_pid++);
		elog_wire_put_i16(&w, 0);
		break;
	case ELOG_API_CREATE_TOPIC: {
		const char *name;
		size_t nlen;
		elog_wire_get_string(&r, &name, &nlen);
		uint32_t parts = elog_wire_get_u32(&r);
		if (fb_topic(fb, name, nlen)) {
			out->len = w.frame_start;
			elog_wire_response_begin(&w, &h, ELOG_PE_TOPIC_EXISTS,
						 "topic already exists");
		} else {
			fb_create(fb, name, nlen, parts ? parts : fb->default_partitions);
		}
		if (fb->drop_after_create_left > 0) {
			fb->drop_after_create_left--;
			drop = 1;
		}
		if (fb->unknown_after_create_left > 0) {
			fb->unknown_after_create_left--;
			out->len = w.frame_start;
			elog_wire_response_begin(&w, &h, ELOG_PE_LEADER_UNKNOWN,
						 "no leader of the cluster metadata is known now");
		}
		break;
	}
	case ELOG_API_DESCRIBE_TOPICS: {
		/* Version 3, enough for the client: names asked, partitions, one replica. */
		uint32_t n = elog_wire_get_u32(&r);
		elog_wire_put_u32(&w, n);
		for (uint32_t i = 0; i < n; i++) {
			const char *name;
			size_t nlen;
			struct fb_topic *t;
			elog_wire_get_string(&r, &name, &nlen);
			t = fb_topic(fb, name, nlen);
			elog_wire_put_string(&w, name, nlen);
			elog_wire_put_i16(&w, t ? 0 : ELOG_PE_UNKNOWN_TOPIC);
			elog_wire_put_u32(&w, t ? t->nparts : 0);
			elog_wire_put_u32(&w, 0);
			elog_wire_put_u32(&w, t ? t->nparts : 0);
			for (uint32_t k = 0; t && k < t->nparts; k++) {
				elog_wire_put_u32(&w, k);
				elog_wire_put_i64(&w, 0);
				elog_wire_put_i64(&w, t->parts[k]->hw);
				elog_wire_put_u64(&w, 0);
				elog_wire_put_u32(&w, 1);
				elog_wire_put_u8(&w, 0);
				elog_wire_put_cstring(&w, "");
				elog_wire_put_i32(&w, fb->id);
				elog_wire_put_u64(&w, 1);
				elog_wire_put_u32(&w, 1);
				elog_wire_put_i32(&w, fb->id);
				elog_wire_put_u8(&w, 1);
				elog_wire_put_i64(&w, t->parts[k]->hw);
				elog_wire_put_i64(&w, 0);
			}
		}
		break;
	}
	case ELOG_API_PRODUCE:
		drop = fb_produce(fb, h.version, &w, &r);
		break;
	case ELOG_API_FETCH:
		fb_fetch(fb, &w, &r);
		break;
	case ELOG_API_LIST_OFFSETS:
		fb_list_offsets(fb, &w, &r);
		break;
	default:
		out->len = w.frame_start;
		elog_wire_response_begin(&w, &h, ELOG_PE_UNSUPPORTED_API, NULL);
	}
	elog_wire_frame_end(&w, NULL);
	if (drop == 2) { /* acks=0: no answer */
		out->len = w.frame_start;
		if (out != &c->out)
			c->nheld--;
		return 0;
	}
	if (drop)
		return 1;
	if (out != &c->out && c->nheld == fb->hold_produce) {
		/* Release the held answers in reverse order. */
		while (c->nheld > 0) {
			struct elog_buf *hb = &c->held[--c->nheld];
			elog_buf_add(&c->out, hb->data, hb->len, NULL);
		}
		fb->hold_produce = 0;
	}
	return 0;
}

static void fb_conn_close(struct fb_conn *c)
{
	close(c->fd);
	c->fd = -1;
	elog_buf_release(&c->in);
	elog_buf_release(&c->out);
	for (int i = 0; i < 16; i++)
		elog_buf_release(&c->held[i]);
	c->nheld = 0;
}

static void *fb_main(void *arg)
{
	struct fb *fb = arg;

	for (;;) {
		struct pollfd fds[FB_CONNS + 2];
		int idx[FB_CONNS + 2], n = 0, stalled;

		pthread_mutex_lock(fb->lock);
		if (fb->stall && fb->unstall_at_ms && elog_clock_ms() >= fb->unstall_at_ms)
			fb->stall = 0;
		stalled = fb->stall;
		pthread_mutex_unlock(fb->lock);
		fds[n].fd = fb->wake[0];
		fds[n++].events = POLLIN;
		fds[n].fd = fb->listen_fd;
		fds[n++].events = POLLIN;
		for (int i = 0; i < FB_CONNS && !stalled; i++) {
			if (fb->conns[i].fd < 0)
				continue;
			fds[n].fd = fb->conns[i].fd;
			fds[n].events = POLLIN | (fb->conns[i].out.len ? POLLOUT : 0);
			idx[n++] = i;
		}
		if (poll(fds, (nfds_t)n, stalled ? 10 : 1000) < 0)
			continue;
		pthread_mutex_lock(fb->lock);
		if (fb->stop) {
			pthread_mutex_unlock(fb->lock);
			break;
		}
		if (fds[1].revents & POLLIN) {
			int fd = accept(fb->listen_fd, NULL, NULL);
			int placed = 0;
			for (int i = 0; fd >= 0 && i < FB_CONNS && !placed; i++)
				if (fb->conns[i].fd < 0) {
					fb->conns[i].fd = fd;
					elog_buf_init(&fb->conns[i].in, 1u << 27);
					elog_buf_init(&fb->conns[i].out, 1u << 27);
					for (int k = 0; k < 16; k++)
						elog_buf_init(&fb->conns[i].held[k], 1u << 27);
					placed = 1;
				}
			if (fd >= 0 && !placed)
				close(fd);
		}
		for (int j = 2; j < n; j++) {
			struct fb_conn *c = &fb->conns[idx[j]];
			int dead = 0;

			if (fds[j].revents & (POLLIN | POLLHUP | POLLERR)) {
				uint8_t tmp[65536];
				ssize_t got = recv(c->fd, tmp, sizeof(tmp), 0);
				if (got <= 0)
					dead = 1;
				else
					elog_buf_add(&c->in, tmp, (size_t)got, NULL);
			}
			while (!dead && c->in.len >= 12) {
				size_t total = (size_t)elog_get32(c->in.data) + 4;
				if (c->in.len < total)
					break;
				if (fb_handle(fb, c, c->in.data, total))
					dead = 1;
				else
					elog_buf_consume(&c->in, total);
			}
			if (!dead && c->out.len) {
				ssize_t put = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
				if (put > 0)
					elog_buf_consume(&c->out, (size_t)put);
				else if (put < 0 && errno != EAGAIN)
					dead = 1;
			}
			if (dead)
				fb_conn_close(c);
		}
		pthread_mutex_unlock(fb->lock);
	}
	return NULL;
}

#define FB_LOCKED(fb, stmt) do { pthread_mutex_lock((fb)->lock); stmt; pthread_mutex_unlock((fb)->lock); } while (0)

/* A fake alone (owner NULL), or one more broker id of owner's cluster. */
static struct fb *fb_start_as(struct fb *owner, int32_t id)
{
	struct fb *fb = calloc(1, sizeof(*fb));
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1;

	pthread_mutex_init(&fb->mu, NULL);
	fb->owner = owner ? owner : fb;
	fb->lock = &fb->owner->mu;
	fb->id = id;
	fb->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fb->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fb->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fb->listen_fd, 16) < 0) {
		free(fb);
		return NULL;
	}
	getsockname(fb->listen_fd, (struct sockaddr *)&sa, &sl);
	fb->port = ntohs(sa.sin_port);
	if (pipe(fb->wake) < 0) {
		free(fb);
		return NULL;
	}
	for (int i = 0; i < FB_CONNS; i++)
		fb->conns[i].fd = -1;
	fb->next_pid = 1000;
	if (!owner) {
		fb->brokers[0] = (struct fb_addr){id, fb->port};
		fb->nbrokers = 1;
		fb->controller = id;
		for (int i = 0; i < FB_PARTS; i++)
			fb->leaders[i] = id;
	} else {
		struct fb_addr a = {id, fb->port};
		FB_LOCKED(owner, owner->brokers[owner->nbrokers++] = a);
	}
	fb->auto_create = 1;
	fb->default_partitions = 1;
	fb->bad_partition = -1;
	pthread_create(&fb->thread, NULL, fb_main, fb);
	return fb;
}

static struct fb *fb_start(void)
{
	return fb_start_as(NULL, 0);
}

/* Delete every topic (the caller holds mu, or the thread is gone). */
static void fb_delete_topics(struct fb *fb)
{
	for (int i = 0; i < fb->ntopics; i++)
		for (uint32_t p = 0; p < fb->topics[i].nparts; p++) {
			for (size_t b = 0; b < fb->topics[i].parts[p]->nbatches; b++)
				free(fb->topics[i].parts[p]->batches[b].data);
			free(fb->topics[i].parts[p]);
		}
	fb->ntopics = 0;
}

static void fb_stop(struct fb *fb)
{
	pthread_mutex_lock(fb->lock);
	fb->stop = 1;
	pthread_mutex_unlock(fb->lock);
	(void)!write(fb->wake[1], "x", 1);
	pthread_join(fb->thread, NULL);
	for (int i = 0; i < FB_CONNS; i++)
		if (fb->conns[i].fd >= 0)
			fb_conn_close(&fb->conns[i]);
	if (fb->owner == fb)
		fb_delete_topics(fb);
	close(fb->listen_fd);
	close(fb->wake[0]);
	close(fb->wake[1]);
	pthread_mutex_destroy(&fb->mu);
	free(fb);
}


static struct elog_client *fb_client(struct fb *fb)
{
	struct elog_client_config cc;
	struct elog_err err;
	char brokers[64];

	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)fb->port);
	elog_client_config_init(&cc);
	cc.brokers = brokers;
	cc.request_timeout_ms = 5000;
	cc.retry_backoff_ms = 5;
	cc.retry_backoff_max_ms = 20;
	return elog_client_new(&cc, &err);
}

/* Every record of every partition of a topic, as (partition, value) in offset order. */
static long fb_count(struct fb *fb, const char *topic, uint32_t partition)
{
	long n = 0;
	pthread_mutex_lock(fb->lock);
	struct fb_topic *t = fb_topic(fb, topic, strlen(topic));
	if (t && partition < t->nparts)
		n = t->parts[partition]->hw;
	pthread_mutex_unlock(fb->lock);
	return n;
}

/* ================================================================ delivery log */

struct dlog {
	uint64_t delivered, failed;
	uint64_t tag_sum;                  /* sum of delivered tags */
	int64_t last_offset[FB_PARTS];     /* per partition: offsets must increase */
	int out_of_order;
	char first_message[256];
	int last_error;
};

static void on_delivery(void *ctx, const struct elog_delivery *d)
{
	struct dlog *l = ctx;

	if (d->error) {
		l->failed += d->record_count;
		l->last_error = d->error;
		if (!l->first_message[0])
			snprintf(l->first_message, sizeof(l->first_message), "%s", d->message);
		return;
	}
	l->delivered += d->record_count;
	for (uint32_t i = 0; i < d->record_count; i++)
		l->tag_sum += d->tags[i];
	if (d->base_offset >= 0 && d->partition < FB_PARTS) {
		if (d->base_offset < l->last_offset[d->partition])
			l->out_of_order = 1;
		l->last_offset[d->partition] = d->base_offset + d->record_count;
	}
}

static struct elog_record value_record(const char *value, const char *key)
{
	struct elog_record r;

	memset(&r, 0, sizeof(r));
	r.timestamp_ms = 1700000000000;
	r.value = (const uint8_t *)value;
	r.value_len = (int32_t)strlen(value);
	r.key = (const uint8_t *)key;
	r.key_len = key ? (int32_t)strlen(key) : -1;
	return r;
}

static void producer_config(struct elog_producer_config *pc, struct dlog *l)
{
	elog_producer_config_init(pc);
	pc->on_delivery = on_delivery;
	pc->ctx = l;
	pc->retry_backoff_ms = 2;
	pc->retry_backoff_max_ms = 10;
	pc->linger_ms = 1;
	pc->batch_bytes = 4096;
	pc->delivery_timeout_ms = 5000;
	pc->request_timeout_ms = 2000;
	memset(l, 0, sizeof(*l));
}

/* ================================================================ pure tests */

static void test_brokers_parse(void)
{
	struct elog_broker_addr a[4];
	struct elog_err err;
	size_t n;
	char text[300];

	T_OK(elog_brokers_parse("127.0.0.1:7411", a, 4, &n, &err), &err);
	T_EQ_INT(n, 1);
	T_CHECK(strcmp(a[0].host, "127.0.0.1") == 0 && a[0].port == 7411);
	T_OK(elog_brokers_parse("a:1, b , [::1]:9,[fe80::1]", a, 4, &n, &err), &err);
	T_EQ_INT(n, 4);
	T_CHECK(strcmp(a[0].host, "a") == 0 && a[0].port == 1);
	T_CHECK(strcmp(a[1].host, "b") == 0 && a[1].port == ELOG_PORT_DEFAULT);
	T_CHECK(strcmp(a[2].host, "::1") == 0 && a[2].port == 9);
	T_CHECK(strcmp(a[3].host, "fe80::1") == 0 && a[3].port == ELOG_PORT_DEFAULT);
	elog_broker_addr_format(&a[2], text, sizeof(text));
	T_CHECK(strcmp(text, "[::1]:9") == 0);
	elog_broker_addr_format(&a[0], text, sizeof(text));
	T_CHECK(strcmp(text, "a:1") == 0);
	T_OK(elog_brokers_parse("h:65535,", a, 4, &n, &err), &err); /* trailing comma */
	T_EQ_INT(n, 1);

	T_CHECK(elog_brokers_parse("", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse(",", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("a,,b", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("h:0", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("h:65536", a, 4, &n, &err) == -1);
	T_CHECK(strstr(err.msg, "port out of range") && strstr(err.msg, "\"h:65536\""));
	T_CHECK(elog_brokers_parse("h:12x", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("h:", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse(":80", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("::1:80", a, 4, &n, &err) == -1);
	T_CHECK(strstr(err.msg, "[addr]:port") != NULL);
	T_CHECK(elog_brokers_parse("[::1", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("[::1]x", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("a b:1", a, 4, &n, &err) == -1);
	T_CHECK(elog_brokers_parse("a,b,c,d,e", a, 4, &n, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_INVAL);
	memset(text, 'h', 280);
	text[280] = '\0';
	T_CHECK(elog_brokers_parse(text, a, 4, &n, &err) == -1);
}

static void test_brokers_choose(void)
{
	unsetenv(ELOG_BROKERS_ENV);
	T_CHECK(strcmp(elog_brokers_choose(NULL), "127.0.0.1:7411") == 0);
	T_CHECK(strcmp(elog_brokers_choose(""), "127.0.0.1:7411") == 0);
	setenv(ELOG_BROKERS_ENV, "env:1", 1);
	T_CHECK(strcmp(elog_brokers_choose(NULL), "env:1") == 0);
	T_CHECK(strcmp(elog_brokers_choose("opt:2"), "opt:2") == 0);
	setenv(ELOG_BROKERS_ENV, "", 1);
	T_CHECK(strcmp(elog_brokers_choose(NULL), "127.0.0.1:7411") == 0);
	unsetenv(ELOG_BROKERS_ENV);
}

static void test_backoff_schedule(void)
{
	/* Without jitter extremes: rnd 200 is the midpoint (x1.0). */
	T_EQ_INT(elog_backoff_ms(0, 100, 1000, 200), 100);
	T_EQ_INT(elog_backoff_ms(1, 100, 1000, 200), 200);
	T_EQ_INT(elog_backoff_ms(2, 100, 1000, 200), 400);
	T_EQ_INT(elog_backoff_ms(3, 100, 1000, 200), 800);
	T_EQ_INT(elog_backoff_ms(4, 100, 1000, 200), 1000);
	T_EQ_INT(elog_backoff_ms(100, 100, 1000, 200), 1000);   /* no overflow */
	T_EQ_INT(elog_backoff_ms(UINT32_MAX, 100, 1000, 200), 1000);
	/* Jitter stays within [0.8, 1.2) and never above the cap. */
	for (uint32_t rnd = 0; rnd < 1000; rnd += 7) {
		uint32_t ms = elog_backoff_ms(1, 100, 1000, rnd);
		T_CHECK(ms >= 160 && ms < 240);
		T_CHECK(elog_backoff_ms(10, 100, 1000, rnd) <= 1000);
	}
	T_EQ_INT(elog_backoff_ms(0, 100, 1000, 0), 80);
	T_CHECK(elog_backoff_ms(0, 0, 0, 0) >= 1);                /* never 0: no busy retry loop */
	T_EQ_INT(elog_backoff_ms(5, 50, 10, 399), 50);             /* max below base: base wins */
}

static void test_batching_decisions(void)
{
	struct elog_producer_config pc;

	elog_producer_config_init(&pc);
	pc.batch_bytes = 1000;
	pc.linger_ms = 5;
	T_EQ_INT(elog_producer_should_close(&pc, 0, 0, 0, 100), 0);     /* empty: never */
	T_EQ_INT(elog_producer_should_close(&pc, 999, 10, 100, 101), 0); /* neither full nor lingered */
	T_EQ_INT(elog_producer_should_close(&pc, 1000, 10, 100, 101), 1); /* full */
	T_EQ_INT(elog_producer_should_close(&pc, 10, 1, 100, 105), 1);   /* linger passed */
	T_EQ_INT(elog_producer_should_close(&pc, 10, 1, 100, 104), 0);
	pc.linger_ms = 0;
	T_EQ_INT(elog_producer_should_close(&pc, 10, 1, 100, 100), 1);   /* linger 0: at once */
	/* Defaults documented in client.h */
	elog_producer_config_init(&pc);
	T_EQ_INT(pc.acks, -1);
	T_EQ_INT(pc.idempotence, 1);
	T_EQ_INT(pc.max_in_flight, 5);
	T_EQ_INT(pc.linger_ms, 5);
}

static void test_pos_parse(void)
{
	struct elog_pos p;
	struct elog_err err;

	T_OK(elog_pos_parse("earliest", &p, &err), &err);
	T_EQ_INT(p.kind, ELOG_POS_EARLIEST);
	T_OK(elog_pos_parse("beginning", &p, &err), &err);
	T_EQ_INT(p.kind, ELOG_POS_EARLIEST);
	T_OK(elog_pos_parse("latest", &p, &err), &err);
	T_EQ_INT(p.kind, ELOG_POS_LATEST);
	T_OK(elog_pos_parse("end", &p, &err), &err);
	T_EQ_INT(p.kind, ELOG_POS_LATEST);
	T_OK(elog_pos_parse("42", &p, &err), &err);
	T_CHECK(p.kind == ELOG_POS_OFFSET && p.value == 42);
	T_OK(elog_pos_parse("0", &p, &err), &err);
	T_CHECK(p.kind == ELOG_POS_OFFSET && p.value == 0);
	T_OK(elog_pos_parse("-10", &p, &err), &err);
	T_CHECK(p.kind == ELOG_POS_FROM_END && p.value == 10);
	T_OK(elog_pos_parse("@1700000000000", &p, &err), &err);
	T_CHECK(p.kind == ELOG_POS_TIMESTAMP && p.value == 1700000000000);
	T_OK(elog_pos_parse("@2023-11-14T22:13:20Z", &p, &err), &err);
	T_CHECK(p.kind == ELOG_POS_TIMESTAMP && p.value == 1700000000000);
	T_CHECK(elog_pos_parse("", &p, &err) == -1);
	T_CHECK(elog_pos_parse("x", &p, &err) == -1);
	T_CHECK(strstr(err.msg, "\"x\"") != NULL);
	T_CHECK(elog_pos_parse("-", &p, &err) == -1);
	T_CHECK(elog_pos_parse("--1", &p, &err) == -1);
	T_CHECK(elog_pos_parse("@yesterday", &p, &err) == -1);
	T_CHECK(elog_pos_parse("1e3", &p, &err) == -1);
}

static void test_errcode_mapping(void)
{
	struct elog_err err;

	T_EQ_INT(elog_client_errcode(ELOG_PE_OFFSET_OUT_OF_RANGE), ELOG_E_RANGE);
	T_EQ_INT(elog_client_errcode(ELOG_PE_CORRUPT_BATCH), ELOG_E_CORRUPT);
	T_EQ_INT(elog_client_errcode(ELOG_PE_BATCH_TOO_LARGE), ELOG_E_LIMIT);
	T_EQ_INT(elog_client_errcode(ELOG_PE_STORAGE_ERROR), ELOG_E_FAILED);
	T_EQ_INT(elog_client_errcode(ELOG_PE_UNKNOWN_TOPIC), ELOG_E_INVAL);
	elog_client_err_proto(&err, ELOG_PE_UNKNOWN_TOPIC, NULL, 0, "produce to '%s'", "x");
	T_CHECK(strcmp(err.msg, "produce to 'x': no such topic") == 0);
	elog_client_err_proto(&err, ELOG_PE_NOT_LEADER, "broker 2 leads it", 17, "p %d", 3);
	T_CHECK(strcmp(err.msg, "p 3: broker 2 leads it") == 0);
}

/* ---------------------------------------------------------------- encodings */

static void test_encode_fetch_layout(void)
{
	struct elog_fetch_request_part parts[3] = {
		{"a", 0, 5, 100}, {"a", 2, 7, 200}, {"bb", 1, -1, 300},
	};
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_frame_header h;
	struct elog_err err;
	const char *s;
	size_t len;

	elog_buf_init(&b, 1 << 16);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_FETCH, 9);
	elog_encode_fetch(&w, 500, 1, 1 << 20, parts, 3);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	T_OK(elog_frame_header_decode(b.data, b.len, 1 << 20, &h, &err), &err);
	T_EQ_INT(h.api, ELOG_API_FETCH);
	elog_wire_r_init(&r, b.data + 12, b.len - 12);
	T_EQ_INT(elog_wire_get_u32(&r), 500);       /* max_wait_ms */
	T_EQ_INT(elog_wire_get_u32(&r), 1);         /* min_bytes */
	T_EQ_INT(elog_wire_get_u32(&r), 1 << 20);   /* max_bytes */
	T_EQ_INT(elog_wire_get_count(&r, 6), 2);    /* topics a, bb */
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 1 && s[0] == 'a');
	T_EQ_INT(elog_wire_get_count(&r, 16), 2);
	T_EQ_INT(elog_wire_get_u32(&r), 0);
	T_EQ_INT(elog_wire_get_i64(&r), 5);
	T_EQ_INT(elog_wire_get_u32(&r), 100);
	T_EQ_INT(elog_wire_get_u32(&r), 2);
	T_EQ_INT(elog_wire_get_i64(&r), 7);
	T_EQ_INT(elog_wire_get_u32(&r), 200);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 2 && memcmp(s, "bb", 2) == 0);
	T_EQ_INT(elog_wire_get_count(&r, 16), 1);
	T_EQ_INT(elog_wire_get_u32(&r), 1);
	T_EQ_INT(elog_wire_get_i64(&r), -1);
	T_EQ_INT(elog_wire_get_u32(&r), 300);
	T_OK(elog_wire_r_end(&r, &err), &err);
	elog_buf_release(&b);
}

static void test_encode_list_offsets_and_metadata(void)
{
	uint32_t parts[3] = {4, 5, 6};
	int64_t ts[3] = {-1, -2, 1700000000000};
	size_t index[2] = {2, 0};
	struct elog_list_offsets_request q = {"t", parts, ts, index, 2};
	const char *topics[2] = {"x", "yy"};
	struct elog_metadata_request mq = {topics, 2, 1};
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_err err;
	const char *s;
	size_t len;

	elog_buf_init(&b, 1 << 16);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_LIST_OFFSETS, 1);
	elog_encode_list_offsets(&w, &q);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	elog_wire_r_init(&r, b.data + 12, b.len - 12);
	T_EQ_INT(elog_wire_get_count(&r, 6), 1);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 1 && s[0] == 't');
	T_EQ_INT(elog_wire_get_count(&r, 12), 2);
	T_EQ_INT(elog_wire_get_u32(&r), 6);
	T_CHECK(elog_wire_get_i64(&r) == 1700000000000);
	T_EQ_INT(elog_wire_get_u32(&r), 4);
	T_EQ_INT(elog_wire_get_i64(&r), -1);
	T_OK(elog_wire_r_end(&r, &err), &err);

	elog_buf_reset(&b);
	elog_wire_w_init(&w, &b);
	elog_wire_frame_begin(&w, ELOG_API_METADATA, 2);
	elog_encode_metadata(&w, &mq);
	T_OK(elog_wire_frame_end(&w, &err), &err);
	elog_wire_r_init(&r, b.data + 12, b.len - 12);
	T_EQ_INT(elog_wire_get_count(&r, 2), 2);
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 1 && s[0] == 'x');
	elog_wire_get_string(&r, &s, &len);
	T_CHECK(len == 2 && memcmp(s, "yy", 2) == 0);
	T_EQ_INT(elog_wire_get_u8(&r), 1);      /* allow_auto_create, version 2 */
	T_OK(elog_wire_r_end(&r, &err), &err);
	elog_buf_release(&b);
}

/* ---------------------------------------------------------------- decodings */

/* A METADATA body (after error_code/message) by hand. */
static void put_metadata_body(struct elog_wire_w *w, int partitions_reversed)
{
	elog_wire_put_i32(w, 3);
	elog_wire_put_u32(w, 2);
	elog_wire_put_i32(w, 3);
	elog_wire_put_cstring(w, "b3.example");
	elog_wire_put_u16(w, 7411);
	elog_wire_put_i32(w, 4);
	elog_wire_put_cstring(w, "10.0.0.4");
	elog_wire_put_u16(w, 7412);
	elog_wire_put_u32(w, 2);
	elog_wire_put_cstring(w, "orders");
	elog_wire_put_i16(w, 0);
	elog_wire_put_u32(w, 2);
	for (int i = 0; i < 2; i++) {
		uint32_t id = partitions_reversed ? (uint32_t)(1 - i) : (uint32_t)i;
		elog_wire_put_u32(w, id);
		elog_wire_put_i16(w, 0);
		elog_wire_put_i32(w, id == 0 ? 3 : 4);
		elog_wire_put_i64(w, 7);
		elog_wire_put_u32(w, 2);
		elog_wire_put_i32(w, 3);
		elog_wire_put_i32(w, 4);
		elog_wire_put_u32(w, 1);
		elog_wire_put_i32(w, 3);
	}
	elog_wire_put_cstring(w, "missing");
	elog_wire_put_i16(w, ELOG_PE_UNKNOWN_TOPIC);
	elog_wire_put_u32(w, 0);
}

static void test_decode_metadata(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_metadata md;
	struct elog_err err;
	const struct elog_meta_topic *t;

	elog_buf_init(&b, 1 << 16);
	elog_wire_w_init(&w, &b);
	put_metadata_body(&w, 1);
	T_ASSERT(!w.failed);
	elog_wire_r_init(&r, b.data, b.len);
	T_OK(elog_metadata_decode(&r, &md, &err), &err);
	T_EQ_INT(md.controller_id, 3);
	T_EQ_INT(md.broker_count, 2);
	T_CHECK(strcmp(elog_metadata_broker(&md, 4)->host, "10.0.0.4") == 0);
	T_EQ_INT(elog_metadata_broker(&md, 4)->port, 7412);
	T_CHECK(elog_metadata_broker(&md, 5) == NULL);
	t = elog_metadata_topic(&md, "orders");
	T_ASSERT(t != NULL);
	T_EQ_INT(t->partition_count, 2);
	T_EQ_INT(t->partitions[0].id, 0); /* sorted by id */
	T_EQ_INT(t->partitions[0].leader_id, 3);
	T_EQ_INT(t->partitions[1].leader_id, 4);
	T_EQ_INT(t->partitions[1].replica_count, 2);
	T_EQ_INT(t->partitions[1].replicas[1], 4);
	T_EQ_INT(t->partitions[1].isr_count, 1);
	t = elog_metadata_topic(&md, "missing");
	T_ASSERT(t != NULL);
	T_EQ_INT(t->error, ELOG_PE_UNKNOWN_TOPIC);
	T_EQ_INT(t->partition_count, 0);
	elog_metadata_release(&md);

	/* Every truncation of the body fails cleanly (and leaks nothing). */
	for (size_t cut = 0; cut < b.len; cut++) {
		elog_wire_r_init(&r, b.data, cut);
		T_CHECK(elog_metadata_decode(&r, &md, &err) == -1);
		T_EQ_INT(err.code, ELOG_E_CORRUPT);
	}
	/* A byte left over is malformed too. */
	elog_buf_add(&b, "x", 1, NULL);
	elog_wire_r_init(&r, b.data, b.len);
	T_CHECK(elog_metadata_decode(&r, &md, &err) == -1);
	T_CHECK(strstr(err.msg, "left over") != NULL);
	elog_buf_release(&b);
}

static void test_decode_describe(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_topic_descriptions d;
	struct elog_err err;

	/* version 1, version 2 with each partition's status, version 3 with its
	 * leader and replicas (and status 3, unavailable) */
	for (uint16_t version = 1; version <= 3; version++) {
		elog_buf_init(&b, 1 << 16);
		elog_wire_w_init(&w, &b);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_cstring(&w, "orders");
		elog_wire_put_i16(&w, 0);
		elog_wire_put_u32(&w, 2);
		elog_wire_put_u32(&w, 1);
		elog_wire_put_cstring(&w, "retention");
		elog_wire_put_cstring(&w, "7d");
		elog_wire_put_u32(&w, 2);
		for (uint32_t i = 0; i < 2; i++) {
			elog_wire_put_u32(&w, i);
			elog_wire_put_i64(&w, 10 * i);
			elog_wire_put_i64(&w, 100 + i);
			elog_wire_put_u64(&w, 4096);
			elog_wire_put_u32(&w, 1);
			if (version == 2) {
				elog_wire_put_u8(&w, (uint8_t)i);
				elog_wire_put_cstring(&w, i ? "offsets 5-9 damaged" : "");
			}
			if (version >= 3) {
				elog_wire_put_u8(&w, (uint8_t)(i ? 3 : 0));
				elog_wire_put_cstring(&w, i ? "no majority of its 3 replicas is reachable" : "");
				elog_wire_put_i32(&w, i ? -1 : 2);
				elog_wire_put_u64(&w, 7);
				elog_wire_put_u32(&w, 3);
				for (int32_t k = 1; k <= 3; k++) {
					elog_wire_put_i32(&w, k);
					elog_wire_put_u8(&w, k != 3);
					elog_wire_put_i64(&w, k == 3 ? 60 : 100);
					elog_wire_put_i64(&w, k == 3 ? 40 : 0);
				}
			}
		}
		elog_wire_r_init(&r, b.data, b.len);
		T_OK(elog_describe_decode(&r, version, &d, &err), &err);
		T_EQ_INT(d.count, 1);
		T_CHECK(strcmp(d.topics[0].name, "orders") == 0);
		T_EQ_INT(d.topics[0].partition_count, 2);
		T_EQ_INT(d.topics[0].config_count, 1);
		T_CHECK(strcmp(d.topics[0].configs[0].value, "7d") == 0);
		T_EQ_INT(d.topics[0].partition_desc_count, 2);
		T_EQ_INT(d.topics[0].partitions[1].high_watermark, 101);
		T_EQ_INT(d.topics[0].partitions[0].status, ELOG_PARTITION_STATE_OK);
		T_CHECK(d.topics[0].partitions[0].status_detail == NULL);
		T_EQ_INT(d.topics[0].partitions[0].replica_count, version >= 3 ? 3 : 0);
		T_EQ_INT(d.topics[0].partitions[0].leader_id, version >= 3 ? 2 : -1);
		if (version >= 3) {
			const struct elog_partition_description *pd = &d.topics[0].partitions[0];
			T_EQ_INT(pd->leader_term, 7);
			T_EQ_INT(pd->replicas[2].id, 3);
			T_EQ_INT(pd->replicas[2].in_sync, 0);
			T_EQ_INT(pd->replicas[2].end_offset, 60);
			T_EQ_INT(pd->replicas[2].lag, 40);
			T_EQ_INT(pd->replicas[0].in_sync, 1);
			T_EQ_INT(d.topics[0].partitions[1].leader_id, -1);
			T_EQ_INT(d.topics[0].partitions[1].status, ELOG_PARTITION_STATE_UNAVAILABLE);
			T_CHECK(strcmp(elog_partition_state_name(d.topics[0].partitions[1].status),
				       "unavailable") == 0);
		}
		if (version == 2) {
			T_EQ_INT(d.topics[0].partitions[1].status, ELOG_PARTITION_STATE_DAMAGED);
			T_CHECK(strcmp(d.topics[0].partitions[1].status_detail, "offsets 5-9 damaged") == 0);
			T_CHECK(strcmp(elog_partition_state_name(d.topics[0].partitions[1].status),
				       "damaged") == 0);
		}
		elog_topic_descriptions_release(&d);
		for (size_t cut = 0; cut < b.len; cut++) {
			elog_wire_r_init(&r, b.data, cut);
			T_CHECK(elog_describe_decode(&r, version, &d, &err) == -1);
		}
		elog_buf_release(&b);
	}
}

struct walk_log {
	int n;
	uint32_t partitions[4];
	int16_t errors[4];
	int64_t offsets[4];
	size_t batch_bytes[4];
};

static int walk_produce(void *ctx, const struct elog_produce_result *res, struct elog_err *err)
{
	struct walk_log *l = ctx;
	(void)err;
	if (l->n < 4) {
		l->partitions[l->n] = res->partition;
		l->errors[l->n] = res->error;
		l->offsets[l->n] = res->base_offset;
	}
	l->n++;
	return 0;
}

static int walk_fetch(void *ctx, const struct elog_fetch_result *res, struct elog_err *err)
{
	struct walk_log *l = ctx;
	(void)err;
	if (l->n < 4) {
		l->partitions[l->n] = res->partition;
		l->errors[l->n] = res->error;
		l->offsets[l->n] = res->high_watermark;
		l->batch_bytes[l->n] = res->batches_len;
	}
	l->n++;
	return 0;
}

static void test_decode_produce_and_fetch_responses(void)
{
	struct elog_buf b;
	struct elog_wire_w w;
	struct elog_wire_r r;
	struct elog_err err;
	struct walk_log l;

	elog_buf_init(&b, 1 << 16);
	elog_wire_w_init(&w, &b);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "t");
	elog_wire_put_u32(&w, 2);
	elog_wire_put_u32(&w, 0);
	elog_wire_put_i16(&w, 0);
	elog_wire_put_cstring(&w, "");
	elog_wire_put_i64(&w, 42);
	elog_wire_put_i64(&w, 0);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_i16(&w, ELOG_PE_NOT_LEADER);
	elog_wire_put_cstring(&w, "not the leader");
	elog_wire_put_i64(&w, -1);
	elog_wire_put_i64(&w, -1);
	memset(&l, 0, sizeof(l));
	elog_wire_r_init(&r, b.data, b.len);
	T_OK(elog_produce_response_walk(&r, walk_produce, &l, &err), &err);
	T_EQ_INT(l.n, 2);
	T_EQ_INT(l.offsets[0], 42);
	T_EQ_INT(l.errors[1], ELOG_PE_NOT_LEADER);
	elog_wire_r_init(&r, b.data, b.len - 1);
	T_CHECK(elog_produce_response_walk(&r, walk_produce, &l, &err) == -1);

	elog_buf_reset(&b);
	elog_wire_w_init(&w, &b);
	elog_wire_put_u32(&w, 1);
	elog_wire_put_cstring(&w, "t");
	elog_wire_put_u32(&w, 1);
	elog_wire_put_u32(&w, 3);
	elog_wire_put_i16(&w, 0);
	elog_wire_put_cstring(&w, "");
	elog_wire_put_i64(&w, 99);
	elog_wire_put_i64(&w, 5);
	elog_wire_put_bytes(&w, "abc", 3);
	memset(&l, 0, sizeof(l));
	elog_wire_r_init(&r, b.data, b.len);
	T_OK(elog_fetch_response_walk(&r, walk_fetch, &l, &err), &err);
	T_EQ_INT(l.n, 1);
	T_EQ_INT(l.partitions[0], 3);
	T_EQ_INT(l.offsets[0], 99);
	T_EQ_INT(l.batch_bytes[0], 3);
	/* A count larger than the bytes could hold is refused before anything is walked. */
	elog_put32(b.data, 1000000);
	memset(&l, 0, sizeof(l));
	elog_wire_r_init(&r, b.data, b.len);
	T_CHECK(elog_fetch_response_walk(&r, walk_fetch, &l, &err) == -1);
	T_EQ_INT(l.n, 0);
	elog_buf_release(&b);
}

static void test_batch_set_producer(void)
{
	struct elog_batch_builder bb;
	struct elog_batch_header h;
	struct elog_record rec = value_record("v", NULL);
	struct elog_err err;
	const uint8_t *out;
	size_t len;
	uint8_t copy[256];

	elog_batch_builder_init(&bb, ELOG_COMPRESS_NONE, 0);
	bb.producer_id = 5;
	bb.producer_epoch = 1;
	bb.base_sequence = 10;
	T_OK(elog_batch_builder_add(&bb, &rec, &err), &err);
	T_OK(elog_batch_builder_add(&bb, &rec, &err), &err);
	T_OK(elog_batch_builder_finish(&bb, &out, &len, &err), &err);
	T_ASSERT(len <= sizeof(copy));
	memcpy(copy, out, len);
	elog_batch_set_producer(copy, len, 77, 2, 0);
	T_OK(elog_batch_check(copy, len, &h, &err), &err); /* CRC recomputed */
	T_EQ_INT(h.producer_id, 77);
	T_EQ_INT(h.producer_epoch, 2);
	T_EQ_INT(h.base_sequence, 0);
	T_EQ_INT(h.record_count, 2);
	elog_batch_builder_release(&bb);
}

/* ================================================================ against the fake broker */

static void test_connect_refused_message(void)
{
	struct elog_conn c;
	struct elog_err err;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;
	char want[64];

	/* A port nobody listens on: bind one and close it. */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	elog_conn_init(&c, NULL);
	T_CHECK(elog_conn_connect(&c, "127.0.0.1", port, &err) == -1);
	snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%u: connection refused", (unsigned)port);
	T_CHECK(strcmp(err.msg, want) == 0);
	T_EQ_INT(err.code, ELOG_E_IO);
	T_CHECK(elog_conn_connect(&c, "no-such-host.invalid", 1, &err) == -1);
	T_CHECK(strstr(err.msg, "cannot resolve 'no-such-host.invalid'") != NULL);
	elog_conn_release(&c);

	/* The client's metadata call reports the same line. */
	struct elog_client_config cc;
	struct elog_client *cl;
	char brokers[32];
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)port);
	elog_client_config_init(&cc);
	cc.brokers = brokers;
	cl = elog_client_new(&cc, &err);
	T_ASSERT(cl);
	T_CHECK(elog_client_metadata(cl, NULL, 0, &err) == NULL);
	T_CHECK(strcmp(err.msg, want) == 0);
	elog_client_free(cl);
}

/* Pipelined requests answered in reverse order are matched by correlation id. */
static void test_conn_pipelining_out_of_order(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	char val[800];
	int requests;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_ASSERT(c);
	T_OK(elog_admin_create_topic(c, "ooo", 4, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->hold_produce = 4);
	producer_config(&pc, &l);
	pc.linger_ms = 1000; /* batches close on flush only: one per partition */
	pc.batch_bytes = 1024;
	pc.request_bytes = 1; /* raised to one batch: each batch its own request */
	memset(val, 'v', sizeof(val));
	p = elog_producer_new(c, "ooo", &pc, &err);
	T_ASSERT(p);
	for (uint32_t i = 0; i < 4; i++) {
		struct elog_record r = value_record("", NULL);
		r.value = (const uint8_t *)val;
		r.value_len = 700;
		T_OK(elog_producer_send(p, &r, (int32_t)i, i + 1, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 4);
	T_EQ_INT(l.failed, 0);
	T_EQ_INT(l.tag_sum, 1 + 2 + 3 + 4);
	FB_LOCKED(fb, requests = fb->produce_requests);
	T_EQ_INT(requests, 4);
	for (uint32_t i = 0; i < 4; i++)
		T_EQ_INT(fb_count(fb, "ooo", i), 1);
	elog_producer_free(p);

	/* Raw connection: three metadata requests in flight, answers reversed. */
	struct elog_conn conn;
	struct elog_response resp;
	struct elog_wire_w w;
	uint32_t cids[3];
	int got = 0;
	elog_conn_init(&conn, NULL);
	elog_response_init(&resp, 0);
	T_OK(elog_conn_connect(&conn, "127.0.0.1", fb->port, &err), &err);
	FB_LOCKED(fb, fb->hold_produce = 3);
	for (int i = 0; i < 3; i++) {
		T_OK(elog_conn_request_begin(&conn, &w, ELOG_API_PRODUCE, &cids[i], &err), &err);
		elog_wire_put_i8(&w, 1);
		elog_wire_put_u32(&w, 1000);
		elog_wire_put_u32(&w, 0);
		T_OK(elog_conn_request_end(&conn, &w, 1, 100 + (uint64_t)i, 5000, &err), &err);
	}
	while (got < 3) {
		int rc;
		T_OK(elog_conn_wait(&conn, 2000, &err), &err);
		while ((rc = elog_conn_recv(&conn, &resp, &err)) > 0) {
			/* Reversed: the last request's answer comes first, with its own tag. */
			T_EQ_INT(resp.correlation_id, cids[2 - got]);
			T_EQ_INT(resp.tag, 100 + (uint64_t)(2 - got));
			T_EQ_INT(resp.api, ELOG_API_PRODUCE);
			got++;
		}
		T_ASSERT(rc == 0);
	}
	T_EQ_INT(conn.pending_count, 0);
	elog_response_release(&resp);
	elog_conn_release(&conn);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_conn_bounds(void)
{
	struct elog_conn_config cfg;
	struct elog_conn conn;
	struct elog_wire_w w;
	struct elog_err err;
	struct fb *fb = fb_start();
	uint32_t cid;

	T_ASSERT(fb);
	elog_conn_config_init(&cfg);
	cfg.in_flight_max = 2;
	elog_conn_init(&conn, &cfg);
	/* Not connected: refused with the name in the message. */
	T_CHECK(elog_conn_request_begin(&conn, &w, ELOG_API_METADATA, &cid, &err) == -1);
	T_OK(elog_conn_connect(&conn, "127.0.0.1", fb->port, &err), &err);
	for (int i = 0; i < 2; i++) {
		T_OK(elog_conn_request_begin(&conn, &w, ELOG_API_METADATA, &cid, &err), &err);
		elog_wire_put_u32(&w, 0);
		T_OK(elog_conn_request_end(&conn, &w, 1, 0, 1000, &err), &err);
	}
	T_CHECK(!elog_conn_can_send(&conn));
	T_CHECK(elog_conn_request_begin(&conn, &w, ELOG_API_METADATA, &cid, &err) == -1);
	T_EQ_INT(err.code, ELOG_E_LIMIT);
	elog_conn_release(&conn);
	fb_stop(fb);
}

static void test_admin_and_metadata(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_err err;
	const struct elog_metadata *md;
	const char *names[1] = {"adm"};

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "adm", 3, 1, NULL, 0, &err), &err);
	T_CHECK(elog_admin_create_topic(c, "adm", 3, 1, NULL, 0, &err) == -1);
	T_EQ_INT(elog_client_proto_error(c), ELOG_PE_TOPIC_EXISTS);
	T_CHECK(strcmp(err.msg, "create topic 'adm': topic already exists") == 0);
	T_CHECK(elog_admin_create_topic(c, "bad name", 3, 1, NULL, 0, &err) == -1);
	T_CHECK(strstr(err.msg, "create topic 'bad name'") == err.msg);
	md = elog_client_metadata(c, names, 1, &err);
	T_ASSERT(md);
	T_EQ_INT(elog_metadata_topic(md, "adm")->partition_count, 3);
	T_EQ_INT(elog_client_broker(c, 0)->port, fb->port);
	/* An unsupported call surfaces the broker's code. */
	T_CHECK(elog_admin_delete_topic(c, "adm", &err) == -1);
	T_EQ_INT(elog_client_proto_error(c), ELOG_PE_UNSUPPORTED_API);
	/* A broker from before per-api versions refuses METADATA v2 in v1: the
	 * answer is taken (not an unexpected frame) and its reason reported. */
	FB_LOCKED(fb, fb->old_version = 1);
	T_CHECK(elog_client_metadata(c, names, 1, &err) == NULL);
	T_EQ_INT(elog_client_proto_error(c), ELOG_PE_UNSUPPORTED_VERSION);
	T_CHECK(strstr(err.msg, "this broker speaks 1") != NULL);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_producer_keys_and_spread(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	char key[32], val[200];
	long want[4] = {0}, total = 0;
	struct elog_producer_stats st;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "keys", 4, 1, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	p = elog_producer_new(c, "keys", &pc, &err);
	T_ASSERT(p);
	T_EQ_INT(elog_producer_partition_count(p), 4);
	memset(val, 'x', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (int i = 0; i < 2000; i++) {
		struct elog_record r;
		snprintf(key, sizeof(key), "user-%d", i % 97);
		r = value_record(val, key);
		want[elog_partition_for_key(key, strlen(key), 4)]++;
		T_OK(elog_producer_send(p, &r, -1, (uint64_t)i + 1, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 2000);
	T_EQ_INT(l.tag_sum, 2000ull * 2001 / 2);
	T_CHECK(!l.out_of_order);
	for (uint32_t i = 0; i < 4; i++)
		T_EQ_INT(fb_count(fb, "keys", i), want[i]);

	/* Keyless records: whole batches, spread over every partition. */
	for (int i = 0; i < 2000; i++) {
		struct elog_record r = value_record(val, NULL);
		T_OK(elog_producer_send(p, &r, -1, 1, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	for (uint32_t i = 0; i < 4; i++) {
		long n = fb_count(fb, "keys", i) - want[i];
		T_CHECK(n > 100); /* every partition got batches */
		total += n;
	}
	T_EQ_INT(total, 2000);
	/* An explicit partition out of range is refused, nothing queued. */
	{
		struct elog_record r = value_record("v", NULL);
		T_CHECK(elog_producer_send(p, &r, 9, 1, &err) == -1);
		T_CHECK(strstr(err.msg, "partition 9: no such partition") != NULL);
	}
	elog_producer_stats(p, &st);
	T_EQ_INT(st.records_sent, 4000);
	T_EQ_INT(st.records_delivered, 4000);
	T_EQ_INT(st.retries, 0);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_producer_retries_not_leader(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	struct elog_producer_stats st;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "retry", 2, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->produce_errors_left = 3; fb->produce_error = ELOG_PE_NOT_LEADER);
	producer_config(&pc, &l);
	p = elog_producer_new(c, "retry", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 500; i++) {
		struct elog_record r = value_record("some value", NULL);
		T_OK(elog_producer_send(p, &r, i % 2, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	elog_producer_stats(p, &st);
	T_EQ_INT(l.delivered, 500);
	T_EQ_INT(l.failed, 0);
	T_CHECK(st.retries > 0);
	T_CHECK(!l.out_of_order);
	T_EQ_INT(fb_count(fb, "retry", 0) + fb_count(fb, "retry", 1), 500);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/* The broker appends, then the connection drops before the answer: the
 * resend carries the same sequence numbers and the broker dedups it. */
static void test_producer_idempotent_resend_after_drop(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	int dups;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "idem", 2, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->drop_after_append_left = 2);
	producer_config(&pc, &l);
	p = elog_producer_new(c, "idem", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 1000; i++) {
		struct elog_record r = value_record("value of some length", NULL);
		T_OK(elog_producer_send(p, &r, i % 2, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	FB_LOCKED(fb, dups = fb->duplicates);
	T_EQ_INT(l.delivered, 1000);
	T_EQ_INT(l.failed, 0);
	T_CHECK(dups > 0);                         /* resends happened ... */
	T_EQ_INT(fb_count(fb, "idem", 0), 500);    /* ... and nothing was duplicated */
	T_EQ_INT(fb_count(fb, "idem", 1), 500);
	T_CHECK(!l.out_of_order);
	/* A resent batch goes alone: after a duplicate, the answer's one base
	 * offset would not say where the next batch went. */
	FB_LOCKED(fb, dups = fb->dup_then_more);
	T_EQ_INT(dups, 0);
	elog_producer_free(p);

	/* Without idempotence the same fault duplicates: the documented trade-off. */
	FB_LOCKED(fb, fb->drop_after_append_left = 1);
	producer_config(&pc, &l);
	pc.idempotence = 0;
	p = elog_producer_new(c, "idem", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 100; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 100);
	T_CHECK(fb_count(fb, "idem", 0) > 600);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/*
 * A batch appended but answered with a retriable error (an acks=all or
 * fsync wait that timed out) while later batches of its partition are in
 * flight: the later ones are answered first, the earlier one's resend comes
 * back as a duplicate after them. Reports still come in send order per
 * partition, with rising offsets (090-history's nonmonotonic-send).
 */
static void test_producer_reports_in_order_after_timeout(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	int dups;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "order", 2, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->time_out_every = 5);
	producer_config(&pc, &l);
	pc.linger_ms = 0;
	pc.batch_bytes = 256;
	pc.request_bytes = 512;   /* a batch or two per request: several in flight */
	p = elog_producer_new(c, "order", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 2000; i++) {
		struct elog_record r = value_record("value of some length", NULL);
		T_OK(elog_producer_send(p, &r, i % 2, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 10000, &err), &err);
	FB_LOCKED(fb, dups = fb->duplicates);
	T_EQ_INT(l.delivered, 2000);
	T_EQ_INT(l.failed, 0);
	T_CHECK(dups > 0);                          /* timed-out appends were resent ... */
	T_EQ_INT(fb_count(fb, "order", 0), 1000);   /* ... and stored once */
	T_EQ_INT(fb_count(fb, "order", 1), 1000);
	T_CHECK(!l.out_of_order);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/*
 * While a partition cannot send (its broker stopped answering), records
 * sent with linger 0 fill the open batch instead of closing one batch each:
 * after the stall a few large batches drain, not hundreds of one-record
 * batches a few per round trip (which made failover take a second more).
 */
static void test_producer_blocked_partition_fills_one_batch(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	size_t batches;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "blocked", 1, 1, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	pc.linger_ms = 0;
	pc.batch_bytes = 64 * 1024;
	p = elog_producer_new(c, "blocked", &pc, &err);
	T_ASSERT(p);
	FB_LOCKED(fb, fb->stall = 1);
	for (int i = 0; i < 300; i++) {
		struct elog_record r = value_record("a record of some length", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
		T_ASSERT(elog_producer_poll(p, 1, &err) >= 0);
	}
	FB_LOCKED(fb, fb->stall = 0);
	T_OK(elog_producer_flush(p, 10000, &err), &err);
	T_EQ_INT(l.delivered, 300);
	T_EQ_INT(fb_count(fb, "blocked", 0), 300);
	FB_LOCKED(fb, batches = fb_topic(fb, "blocked", 7)->parts[0]->nbatches);
	/* The in-flight limit's worth sent before the stall was noticed, then one
	 * batch filling; 300 without the change. */
	T_CHECK(batches <= ELOG_PRODUCER_PARTITION_IN_FLIGHT_MAX + 3);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A producer over its buffer bound waits for acknowledgements in send,
 * and flush waits for the last ones: both must sleep in poll, not spin.
 * After the first delivery report every later wait was cut to zero (the
 * "reported" mark was cleared only by elog_producer_poll, which neither
 * loop calls): a producer piping a large input into a cluster burned a
 * core polling while its brokers needed the CPU. The broker here holds
 * every answer for 600 ms; the process (producer and fake alike) may use
 * a fraction of that in CPU, a spin uses all of it.
 */
static void test_producer_waits_without_spinning(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	double cpu;
	int64_t t0, wall;
	int i;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "nospin", 1, 1, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	pc.linger_ms = 0;
	pc.batch_bytes = 1024;
	pc.request_bytes = 4096;
	pc.buffer_bytes = 8192;
	p = elog_producer_new(c, "nospin", &pc, &err);
	T_ASSERT(p);
	/* One delivery first: the mark that turned waits into spins. */
	{
		struct elog_record r = value_record("first", NULL);
		T_OK(elog_producer_send(p, &r, 0, 0, &err), &err);
		T_OK(elog_producer_flush(p, 5000, &err), &err);
		T_EQ_INT(l.delivered, 1);
	}
	t0 = elog_clock_ms();
	FB_LOCKED(fb, (fb->stall = 1, fb->unstall_at_ms = t0 + 600));
	cpu = cpu_seconds();
	for (i = 1; i <= 400; i++) {
		struct elog_record r = value_record("a record of some length, to fill buffers", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 10000, &err), &err);
	cpu = cpu_seconds() - cpu;
	wall = elog_clock_ms() - t0;
	T_EQ_INT(l.delivered, 401);
	T_EQ_INT(fb_count(fb, "nospin", 0), 401);
	T_CHECK(wall >= 600);       /* it did wait for the stalled broker */
	T_CHECK(cpu < 0.25);        /* ~0.6 s when it spins */
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/*
 * A create applied but unanswered (the connection lost after it): the retry
 * finds the topic. It is ours when it is what we asked for: success, not
 * "topic already exists". A delete likewise. One made by someone else
 * with other settings is still "exists".
 */
static void test_admin_retry_after_lost_answer(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_err err;

	T_ASSERT(fb);
	c = fb_client(fb);
	FB_LOCKED(fb, fb->drop_after_create_left = 1);
	T_OK(elog_admin_create_topic(c, "lost", 3, 1, NULL, 0, &err), &err);
	T_EQ_INT(fb_count(fb, "lost", 2), 0);
	/* Without a lost attempt, "exists" is the answer. */
	T_EQ_INT(elog_admin_create_topic(c, "lost", 3, 1, NULL, 0, &err), -1);
	T_CHECK(strstr(err.msg, "exists") != NULL);
	/* Lost, and the topic there is not the one asked for: "exists". */
	T_OK(elog_admin_create_topic(c, "theirs", 2, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->drop_after_create_left = 1);
	T_EQ_INT(elog_admin_create_topic(c, "theirs", 3, 1, NULL, 0, &err), -1);
	T_CHECK(strstr(err.msg, "exists") != NULL);
	/* A controller deposed after it proposed answers "no leader known";
	 * its record may commit under the next one (seen with 1,000-partition
	 * creates that stalled a controller): in doubt too. */
	FB_LOCKED(fb, fb->unknown_after_create_left = 1);
	T_OK(elog_admin_create_topic(c, "deposed", 4, 1, NULL, 0, &err), &err);
	elog_client_free(c);
	fb_stop(fb);
}

/*
 * A batch answered TIMEOUT (appended) waits out a backoff longer than its
 * delivery timeout while later batches of its partition were answered and
 * are held: it expires, and its report releases the held ones. The expiry
 * walk must not touch them afterwards (ASan caught a read of a recycled
 * batch in an earlier version). Every record is reported once.
 */
static void test_producer_expiry_releases_held_batches(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "expire", 1, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->time_out_every = 3);
	producer_config(&pc, &l);
	pc.linger_ms = 0;
	pc.batch_bytes = 256;
	pc.request_bytes = 512;
	pc.delivery_timeout_ms = 150;
	pc.retry_backoff_ms = 400;
	pc.retry_backoff_max_ms = 400;
	p = elog_producer_new(c, "expire", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 400; i++) {
		struct elog_record r = value_record("value of some length", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
	}
	(void)elog_producer_flush(p, 5000, &err);
	T_EQ_INT(l.delivered + l.failed, 400);
	T_CHECK(l.failed > 0);          /* some expired behind their backoff */
	T_CHECK(!l.out_of_order);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/* A final error fails that partition's records (with their tags) and the rest goes on. */
static void test_producer_final_error_and_tags(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	struct elog_producer_stats st;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "fin", 2, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->bad_partition = 1; fb->bad_error = ELOG_PE_BATCH_TOO_LARGE);
	producer_config(&pc, &l);
	p = elog_producer_new(c, "fin", &pc, &err);
	T_ASSERT(p);
	for (int i = 1; i <= 100; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, i > 40 ? 1 : 0, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	elog_producer_stats(p, &st);
	T_EQ_INT(l.delivered, 40);
	T_EQ_INT(l.failed, 60);
	T_EQ_INT(st.records_failed, 60);
	T_EQ_INT(st.first_failed_tag, 41);
	T_CHECK(strcmp(st.first_error, "produce to 'fin' partition 1: batch or record too large") == 0);
	T_EQ_INT(l.last_error, ELOG_PE_BATCH_TOO_LARGE);
	/* The partition recovers: a later batch goes through under a new producer id. */
	FB_LOCKED(fb, fb->bad_partition = -1);
	{
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, 1, 1000, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 41);
	T_EQ_INT(fb_count(fb, "fin", 1), 1);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/* The broker appends, the answer is lost, and every resend is refused with
 * a retriable error (a leader that moved, LEADER_UNKNOWN) until the
 * producer gives up: the records are in the log, so giving up must say
 * "unknown" (-1), not "refused" (the broker's code). A history run found it
 * (091-history-cluster, "failed but read"). */
static void test_producer_gives_up_indeterminate_after_resends(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "gone", 1, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->drop_after_append_left = 1; fb->error_after_drop = ELOG_PE_LEADER_UNKNOWN;
		  fb->errors_after_drop = 1000000);
	producer_config(&pc, &l);
	pc.retries = 2;
	pc.linger_ms = 5000; /* the ten in one batch however slow the run (valgrind); flush closes it */
	p = elog_producer_new(c, "gone", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 10; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(fb_count(fb, "gone", 0), 10);     /* appended by the first send */
	T_EQ_INT(l.delivered, 0);
	T_EQ_INT(l.failed, 10);
	T_EQ_INT(l.last_error, -1);
	T_CHECK(strstr(l.first_message, "not delivered after 2 retries (last error: ") != NULL);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/* The broker appends, the answer is lost, and the resend is refused with
 * UNKNOWN_PRODUCER (the leader now serving it lacks the producer's state):
 * the producer starts over under a new producer id, but a batch that may
 * already be in the log must not be renumbered and sent again — no broker
 * could tell it was a duplicate. A cluster history run found one value
 * stored twice this way (an expired batch made the producer renumber a
 * later one that had been sent to a leader killed before answering). */
static void test_producer_no_renumbering_of_a_maybe_written_batch(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "renum", 1, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->drop_after_append_left = 1; fb->error_after_drop = ELOG_PE_UNKNOWN_PRODUCER;
		  fb->errors_after_drop = 1);
	producer_config(&pc, &l);
	pc.linger_ms = 5000; /* the ten in one batch however slow the run (valgrind); flush closes it */
	p = elog_producer_new(c, "renum", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 10; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(fb_count(fb, "renum", 0), 10);    /* once: not again under a new id */
	T_EQ_INT(l.delivered + l.failed, 10);
	T_EQ_INT(l.last_error, -1);                 /* not delivered: unknown, not refused */
	T_CHECK(strstr(l.first_message, "sent, unanswered, and an earlier batch failed") != NULL);
	/* What was never sent is still renumbered and delivered. */
	for (int i = 10; i < 20; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, 0, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(fb_count(fb, "renum", 0), 20);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_producer_delivery_timeout(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "slow", 1, 1, NULL, 0, &err), &err);
	FB_LOCKED(fb, fb->produce_errors_left = 1000000; fb->produce_error = ELOG_PE_LEADER_UNKNOWN);
	producer_config(&pc, &l);
	pc.delivery_timeout_ms = 200;
	p = elog_producer_new(c, "slow", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 10; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, -1, (uint64_t)i + 7, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 0);
	T_EQ_INT(l.failed, 10);
	T_CHECK(strstr(l.first_message, "produce to 'slow' partition 0: ") == l.first_message);
	T_CHECK(strstr(l.first_message, "no leader for this partition") != NULL);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_producer_unknown_topic(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	int creates;

	T_ASSERT(fb);
	c = fb_client(fb);
	/* Auto-creation on: the producer's first metadata request has the topic
	 * created, so it knows the partitions before the first record. */
	FB_LOCKED(fb, fb->default_partitions = 3);
	producer_config(&pc, &l);
	p = elog_producer_new(c, "auto", &pc, &err);
	T_ASSERT(p);
	T_EQ_INT(elog_producer_partition_count(p), 3);
	for (int i = 0; i < 300; i++) {
		struct elog_record r = value_record("a value", i % 2 ? "k1" : "k2");
		T_OK(elog_producer_send(p, &r, -1, 1, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 300);
	T_EQ_INT(fb_count(fb, "auto", elog_partition_for_key((const uint8_t *)"k1", 2, 3)), 150);
	T_EQ_INT(fb_count(fb, "auto", 0) + fb_count(fb, "auto", 1) + fb_count(fb, "auto", 2), 300);
	/* The topic goes away (deleted): produce v2 never re-creates it, and later
	 * metadata refreshes never ask for creation. */
	FB_LOCKED(fb, (fb_delete_topics(fb), creates = fb->metadata_creates));
	{
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, -1, 7, &err), &err);
		T_CHECK(elog_producer_flush(p, 5000, &err) == 0);
		T_EQ_INT(l.failed, 1);
		T_CHECK(strstr(l.first_message, "no such topic") != NULL);
		T_CHECK(elog_producer_send(p, &r, -1, 8, &err) == -1);
		T_CHECK(strcmp(err.msg, "produce to 'auto': no such topic") == 0);
	}
	FB_LOCKED(fb, T_CHECK(fb->ntopics == 0 && fb->metadata_creates == creates));
	elog_producer_free(p);

	/* Auto-creation off: the producer cannot start. */
	FB_LOCKED(fb, fb->auto_create = 0);
	producer_config(&pc, &l);
	T_CHECK(elog_producer_new(c, "nope", &pc, &err) == NULL);
	T_CHECK(err.code == ELOG_E_INVAL);
	T_CHECK(strcmp(err.msg, "produce to 'nope': no such topic, and the broker does not create "
			       "topics (auto_create_topics is off)") == 0);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_producer_acks_zero(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "fire", 2, 1, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	pc.acks = 0;
	p = elog_producer_new(c, "fire", &pc, &err);
	T_ASSERT(p);
	for (int i = 0; i < 1000; i++) {
		struct elog_record r = value_record("v", NULL);
		T_OK(elog_producer_send(p, &r, -1, 1, &err), &err);
	}
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 1000);
	/* Nothing comes back; wait for the broker to have taken it all. */
	for (int i = 0; i < 200 && fb_count(fb, "fire", 0) + fb_count(fb, "fire", 1) < 1000; i++)
		usleep(5000);
	T_EQ_INT(fb_count(fb, "fire", 0) + fb_count(fb, "fire", 1), 1000);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(fb);
}

/* Produce n records with values "0".."n-1" and timestamps base+i into one partition. */
static void produce_numbered(struct elog_client *c, const char *topic, int n, int64_t base_ts)
{
	struct elog_producer_config pc;
	struct elog_producer *p;
	struct elog_err err;
	struct dlog l;
	char val[32];

	producer_config(&pc, &l);
	pc.batch_bytes = 1024; /* several batches */
	p = elog_producer_new(c, topic, &pc, &err);
	if (!p)
		return;
	for (int i = 0; i < n; i++) {
		struct elog_record r;
		snprintf(val, sizeof(val), "%d", i);
		r = value_record(val, NULL);
		r.timestamp_ms = base_ts + i;
		(void)elog_producer_send(p, &r, 0, (uint64_t)i, &err);
	}
	(void)elog_producer_flush(p, 5000, &err);
	elog_producer_free(p);
}

/* Read from start to end; returns the count, checks values are consecutive from first. */
static long consume_range(struct elog_client *c, const char *topic, const char *start, const char *end,
			  long *first, struct elog_err *err)
{
	struct elog_fetcher_config fc;
	struct elog_fetcher *f;
	struct elog_pos s, e;
	struct elog_fetched rec;
	long n = 0, expect = -1;
	int rc;

	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 10;
	fc.partition_max_bytes = 2048; /* several round trips */
	f = elog_fetcher_new(c, &fc, err);
	if (!f || elog_pos_parse(start, &s, err) < 0 || elog_pos_parse(end, &e, err) < 0 ||
	    elog_fetcher_add(f, topic, 0, &s, &e, err) < 0) {
		elog_fetcher_free(f);
		return -1;
	}
	while ((rc = elog_fetcher_next(f, &rec, 2000, err)) > 0) {
		long v = strtol((const char *)rec.record->value, NULL, 10);
		if (expect < 0)
			*first = v;
		else if (v != expect)
			n = -1000000;
		if (rec.record->offset != v)
			n = -1000000;
		expect = v + 1;
		n++;
	}
	if (rc < 0 || !elog_fetcher_done(f))
		n = rc < 0 ? -1 : -2;
	elog_fetcher_free(f);
	return n;
}

static void test_fetcher_positions(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_err err;
	long first = -1;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "f", 1, 1, NULL, 0, &err), &err);
	produce_numbered(c, "f", 1000, 1700000000000);
	T_EQ_INT(fb_count(fb, "f", 0), 1000);

	T_EQ_INT(consume_range(c, "f", "earliest", "latest", &first, &err), 1000);
	T_EQ_INT(first, 0);
	/* Mid-batch start: the batch holding 333 starts before it; records below are skipped. */
	T_EQ_INT(consume_range(c, "f", "333", "latest", &first, &err), 667);
	T_EQ_INT(first, 333);
	T_EQ_INT(consume_range(c, "f", "-10", "latest", &first, &err), 10);
	T_EQ_INT(first, 990);
	T_EQ_INT(consume_range(c, "f", "-5000", "latest", &first, &err), 1000); /* clamped */
	T_EQ_INT(consume_range(c, "f", "@1700000000500", "latest", &first, &err), 500);
	T_EQ_INT(first, 500);
	T_EQ_INT(consume_range(c, "f", "100", "200", &first, &err), 100);
	T_EQ_INT(first, 100);
	T_EQ_INT(consume_range(c, "f", "latest", "latest", &first, &err), 0);
	/* Beyond the end: it starts at the end, and says so. */
	T_EQ_INT(consume_range(c, "f", "5000", "6000", &first, &err), 0);
	{
		struct elog_fetcher *f = elog_fetcher_new(c, NULL, &err);
		struct elog_pos s = {ELOG_POS_OFFSET, 5000};
		const struct elog_fetch_partition *info;
		struct elog_fetched rec;
		T_ASSERT(f);
		T_OK(elog_fetcher_add(f, "f", -1, &s, NULL, &err), &err);
		T_EQ_INT(elog_fetcher_partition_count(f), 1);
		info = elog_fetcher_partition(f, 0);
		T_ASSERT(info && !elog_fetcher_partition(f, 1));
		T_CHECK(strcmp(info->topic, "f") == 0 && info->id == 0);
		T_EQ_INT(info->start, 1000);
		T_EQ_INT(info->asked, 5000);
		T_EQ_INT(info->log_start, 0);
		T_EQ_INT(info->end, 1000);
		/* An offset gone from under a reader (seek here): a final error
		 * naming what the log holds. */
		T_OK(elog_fetcher_seek(f, "f", 0, 5000, &err), &err);
		T_EQ_INT(elog_fetcher_next(f, &rec, 2000, &err), -1);
		T_CHECK(strcmp(err.msg, "fetch 'f' partition 0 at offset 5000: offset out of range "
				       "(the log holds offsets 0 to 999; its next offset is 1000)") == 0);
		T_EQ_INT(err.code, ELOG_E_RANGE);
		elog_fetcher_free(f);
	}
	{
		char text[96];
		elog_offset_range_text(0, 0, text, sizeof(text));
		T_CHECK(strcmp(text, "the log holds no records; its next offset is 0") == 0);
		elog_offset_range_text(0, 1, text, sizeof(text));
		T_CHECK(strcmp(text, "the log holds offset 0; its next offset is 1") == 0);
		elog_offset_range_text(5, 7, text, sizeof(text));
		T_CHECK(strcmp(text, "the log holds offsets 5 to 6; its next offset is 7") == 0);
	}
	/* Unknown topic / partition */
	{
		struct elog_fetcher *f = elog_fetcher_new(c, NULL, &err);
		struct elog_pos s = {ELOG_POS_EARLIEST, 0};
		T_ASSERT(f);
		T_CHECK(elog_fetcher_add(f, "nosuch", -1, &s, NULL, &err) == -1);
		T_CHECK(strcmp(err.msg, "fetch 'nosuch': no such topic") == 0);
		T_CHECK(elog_fetcher_add(f, "f", 3, &s, NULL, &err) == -1);
		T_CHECK(strstr(err.msg, "no such partition") != NULL);
		T_OK(elog_fetcher_add(f, "f", -1, &s, NULL, &err), &err);
		T_CHECK(elog_fetcher_add(f, "f", 0, &s, NULL, &err) == -1); /* twice */
		T_EQ_INT(elog_fetcher_position(f, "f", 0), 0);
		elog_fetcher_free(f);
	}
	elog_client_free(c);
	fb_stop(fb);
}

static void test_fetcher_follow_and_seek(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_fetcher *f;
	struct elog_fetcher_config fc;
	struct elog_fetched rec;
	struct elog_pos s = {ELOG_POS_LATEST, 0};
	struct elog_err err;
	int rc;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "tail", 1, 1, NULL, 0, &err), &err);
	produce_numbered(c, "tail", 50, 0);
	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 5;
	f = elog_fetcher_new(c, &fc, &err);
	T_ASSERT(f);
	T_OK(elog_fetcher_add(f, "tail", 0, &s, NULL, &err), &err);
	/* Following from the end: nothing yet, a timeout, not done. */
	T_EQ_INT(elog_fetcher_next(f, &rec, 50, &err), 0);
	T_CHECK(!elog_fetcher_done(f));
	produce_numbered(c, "tail", 5, 0); /* values 0..4 again, offsets 50..54 */
	rc = elog_fetcher_next(f, &rec, 2000, &err);
	T_EQ_INT(rc, 1);
	T_EQ_INT(rec.record->offset, 50);
	T_EQ_INT(rec.high_watermark, 55);
	T_CHECK(strcmp(rec.topic, "tail") == 0);
	/* Seek back: the records buffered beyond are dropped, reading restarts there. */
	T_OK(elog_fetcher_seek(f, "tail", 0, 10, &err), &err);
	rc = elog_fetcher_next(f, &rec, 2000, &err);
	T_EQ_INT(rc, 1);
	T_EQ_INT(rec.record->offset, 10);
	T_EQ_INT(elog_fetcher_position(f, "tail", 0), 11);
	T_EQ_INT(elog_fetcher_high_watermark(f, "tail", 0), 55);
	T_OK(elog_fetcher_remove(f, "tail", 0, &err), &err);
	T_EQ_INT(elog_fetcher_next(f, &rec, 20, &err), 0);
	elog_fetcher_free(f);
	elog_client_free(c);
	fb_stop(fb);
}

/* ------------------------------------------------ fetched offsets must continue */

/* Append `batches` batches of 10 records (values "0".., timestamps 1000..) to a fake partition. */
static void fb_put_batches(struct fb *fb, const char *topic, int batches)
{
	struct elog_batch_builder b;
	char val[16];
	int64_t base;
	int n = 0;

	elog_batch_builder_init(&b, ELOG_COMPRESS_NONE, 0);
	pthread_mutex_lock(fb->lock);
	struct fb_topic *t = fb_topic(fb, topic, strlen(topic));
	if (!t)
		t = fb_create(fb, topic, strlen(topic), 1);
	for (int k = 0; k < batches; k++) {
		const uint8_t *out;
		size_t len;
		elog_batch_builder_reset(&b);
		for (int i = 0; i < 10; i++, n++) {
			struct elog_record r;
			snprintf(val, sizeof(val), "%d", n);
			r = value_record(val, NULL);
			r.timestamp_ms = 1000 + n;
			(void)elog_batch_builder_add(&b, &r, NULL);
		}
		if (elog_batch_builder_finish(&b, &out, &len, NULL) == 0)
			(void)fb_append(fb, t->parts[0], out, len, &base);
	}
	pthread_mutex_unlock(fb->lock);
	elog_batch_builder_release(&b);
}

/* What a damaged broker would serve: batch k's base offset (outside the crc) rewritten. */
static void fb_set_base(struct fb *fb, const char *topic, size_t k, int64_t base)
{
	pthread_mutex_lock(fb->lock);
	elog_put64(fb_topic(fb, topic, strlen(topic))->parts[0]->batches[k].data, (uint64_t)base);
	pthread_mutex_unlock(fb->lock);
}

/*
 * Read partition 0 from `start` to the end the fake broker has; the
 * offsets handed out go to offsets[] (each must equal its value). Returns
 * the last elog_fetcher_next result: 0 at the end, -1 on error.
 */
static int consume_offsets(struct elog_client *c, const char *topic, int64_t start, uint32_t partition_max_bytes,
			   int64_t *offsets, size_t *n, struct elog_err *err)
{
	struct elog_fetcher_config fc;
	struct elog_fetcher *f;
	struct elog_pos s = {ELOG_POS_OFFSET, start}, e = {ELOG_POS_LATEST, 0};
	struct elog_fetched rec;
	int rc;

	*n = 0;
	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 10;
	fc.partition_max_bytes = partition_max_bytes;
	f = elog_fetcher_new(c, &fc, err);
	if (!f || elog_fetcher_add(f, topic, 0, &s, &e, err) < 0) {
		elog_fetcher_free(f);
		return -2;
	}
	while ((rc = elog_fetcher_next(f, &rec, 2000, err)) > 0 && *n < 100) {
		if (rec.record->offset != strtol((const char *)rec.record->value, NULL, 10))
			rc = -3;
		offsets[(*n)++] = rec.record->offset;
		if (rc < 0)
			break;
	}
	elog_fetcher_free(f);
	return rc;
}

/* 0 if offsets[0, n) are first, first + 1, ... */
static int consecutive_from(const int64_t *offsets, size_t n, int64_t first)
{
	for (size_t i = 0; i < n; i++)
		if (offsets[i] != first + (int64_t)i)
			return -1;
	return 0;
}

static void test_fetcher_refuses_offset_gaps(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_err err;
	int64_t offsets[100];
	size_t n;

	T_ASSERT(fb);
	c = fb_client(fb);

	/* Intact: 30 records, in one response and in one batch per response. */
	fb_put_batches(fb, "ok", 3);
	T_EQ_INT(consume_offsets(c, "ok", 0, 1 << 20, offsets, &n, &err), 0);
	T_EQ_INT(n, 30);
	T_EQ_INT(consume_offsets(c, "ok", 15, 1, offsets, &n, &err), 0);
	T_EQ_INT(n, 15);
	T_CHECK(consecutive_from(offsets, n, 15) == 0);

	/* A gap inside one response: the records before it, then a final error. */
	fb_put_batches(fb, "gap", 3);
	fb_set_base(fb, "gap", 1, 15);
	T_EQ_INT(consume_offsets(c, "gap", 0, 1 << 20, offsets, &n, &err), -1);
	T_EQ_INT(n, 10);
	T_CHECK(consecutive_from(offsets, n, 0) == 0);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_CHECK(strcmp(err.msg, "fetch 'gap' partition 0: batch at offset 15 follows one ending at offset 9: "
			       "offsets 10..14 missing") == 0);

	/* An overlap. */
	fb_put_batches(fb, "over", 3);
	fb_set_base(fb, "over", 1, 5);
	T_EQ_INT(consume_offsets(c, "over", 0, 1 << 20, offsets, &n, &err), -1);
	T_EQ_INT(n, 10);
	T_CHECK(strcmp(err.msg, "fetch 'over' partition 0: batch at offset 5 overlaps the one before it, "
			       "which ends at offset 9") == 0);

	/* Across responses (one batch each): the next response must hold the offset asked for. */
	fb_put_batches(fb, "across", 3);
	fb_set_base(fb, "across", 2, 25);
	T_EQ_INT(consume_offsets(c, "across", 0, 1, offsets, &n, &err), -1);
	T_EQ_INT(n, 20);
	T_CHECK(consecutive_from(offsets, n, 0) == 0);
	T_CHECK(strcmp(err.msg, "fetch 'across' partition 0 at offset 20: the first batch returned starts at "
			       "offset 25: offsets 20..24 missing") == 0);

	/*
	 * A first batch below the offset asked for (a flipped base_offset byte:
	 * today's silent skip of a whole batch) and one starting after it.
	 */
	fb_put_batches(fb, "below", 3);
	fb_set_base(fb, "below", 1, 0);
	T_EQ_INT(consume_offsets(c, "below", 10, 1 << 20, offsets, &n, &err), -1);
	T_EQ_INT(n, 0);
	T_CHECK(strcmp(err.msg, "fetch 'below' partition 0 at offset 10: the first batch returned holds "
			       "offsets 0..9, below it") == 0);
	fb_set_base(fb, "below", 1, 12);
	T_EQ_INT(consume_offsets(c, "below", 10, 1 << 20, offsets, &n, &err), -1);
	T_EQ_INT(n, 0);
	T_CHECK(strstr(err.msg, "at offset 10: the first batch returned starts at offset 12: offsets 10..11 missing") != NULL);

	/*
	 * A batch that fails validation (its max timestamp rewritten, crc
	 * fixed): none of its records is handed out, the error names it.
	 */
	fb_put_batches(fb, "invalid", 3);
	pthread_mutex_lock(fb->lock);
	{
		struct fb_batch *fbb = &fb_topic(fb, "invalid", 7)->parts[0]->batches[1];
		/* Below its records: a compacted batch may keep a max timestamp
		 * above what is left of them, never one below. */
		elog_put64(fbb->data + 40, 1000);
		elog_put32(fbb->data + 12, elog_crc32c(0, fbb->data + 16, fbb->len - 16));
	}
	pthread_mutex_unlock(fb->lock);
	T_EQ_INT(consume_offsets(c, "invalid", 0, 1 << 20, offsets, &n, &err), -1);
	T_EQ_INT(n, 10);
	T_EQ_INT(err.code, ELOG_E_CORRUPT);
	T_CHECK(strstr(err.msg, "fetch 'invalid' partition 0: batch at offset 10: ") == err.msg);
	T_CHECK(strstr(err.msg, "timestamp") != NULL);

	/* A batch cut short is damage too, not something to fetch again. */
	fb_put_batches(fb, "short", 2);
	pthread_mutex_lock(fb->lock);
	fb_topic(fb, "short", 5)->parts[0]->batches[1].len -= 5;
	pthread_mutex_unlock(fb->lock);
	T_EQ_INT(consume_offsets(c, "short", 0, 1 << 20, offsets, &n, &err), -1);
	T_EQ_INT(n, 10);
	T_CHECK(strstr(err.msg, "fetch 'short' partition 0 at offset 10: byte ") != NULL);
	T_CHECK(strstr(err.msg, "cut short") != NULL);
	elog_client_free(c);
	fb_stop(fb);
}

/* report_caught_up: once per partition, right after the record that reaches
 * its end as of the start, before any record produced later; at once for an
 * empty partition. */
static void test_fetcher_caught_up(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_fetcher *f;
	struct elog_fetcher_config fc;
	struct elog_fetched rec;
	struct elog_pos s = {ELOG_POS_EARLIEST, 0};
	struct elog_err err;
	int rc, reports[2] = {0, 0};
	int64_t next = 0;

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "cu", 2, 1, NULL, 0, &err), &err);
	produce_numbered(c, "cu", 300, 0);
	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 5;
	fc.report_caught_up = 1;
	f = elog_fetcher_new(c, &fc, &err);
	T_ASSERT(f);
	T_OK(elog_fetcher_add(f, "cu", -1, &s, NULL, &err), &err);
	/* Produced after the start, before the reader got there: comes after the report. */
	produce_numbered(c, "cu", 20, 0);
	/* The empty partition 1 is reported first, at its end 0. */
	T_EQ_INT(elog_fetcher_next(f, &rec, 2000, &err), ELOG_FETCHER_CAUGHT_UP);
	T_CHECK(rec.record == NULL && rec.partition == 1 && rec.high_watermark == 0);
	reports[1]++;
	while (next < 320 && (rc = elog_fetcher_next(f, &rec, 2000, &err)) > 0) {
		if (rc == ELOG_FETCHER_CAUGHT_UP) {
			T_CHECK(rec.partition == 0 && rec.high_watermark == 300 && next == 300);
			reports[rec.partition]++;
			continue;
		}
		T_EQ_INT(rec.record->offset, next);
		next++;
	}
	T_EQ_INT(next, 320);
	T_EQ_INT(reports[0], 1);
	/* Never again. */
	T_EQ_INT(elog_fetcher_next(f, &rec, 50, &err), 0);
	elog_fetcher_free(f);

	/* Started at the end ("latest"): reported at once; then the new records. */
	s.kind = ELOG_POS_LATEST;
	f = elog_fetcher_new(c, &fc, &err);
	T_ASSERT(f);
	T_OK(elog_fetcher_add(f, "cu", 0, &s, NULL, &err), &err);
	produce_numbered(c, "cu", 1, 0);
	T_EQ_INT(elog_fetcher_next(f, &rec, 2000, &err), ELOG_FETCHER_CAUGHT_UP);
	T_EQ_INT(rec.high_watermark, 320);
	T_EQ_INT(elog_fetcher_next(f, &rec, 2000, &err), 1);
	T_EQ_INT(rec.record->offset, 320);
	elog_fetcher_free(f);
	elog_client_free(c);
	fb_stop(fb);
}

static void test_list_offsets(void)
{
	struct fb *fb = fb_start();
	struct elog_client *c;
	struct elog_err err;
	uint32_t parts[3] = {0, 0, 0};
	int64_t ts[3] = {ELOG_OFFSET_EARLIEST, ELOG_OFFSET_LATEST, 1700000000042};
	int64_t out[3];

	T_ASSERT(fb);
	c = fb_client(fb);
	T_OK(elog_admin_create_topic(c, "lo", 2, 1, NULL, 0, &err), &err);
	produce_numbered(c, "lo", 100, 1700000000000);
	T_OK(elog_client_list_offsets(c, "lo", parts, ts, out, 3, &err), &err);
	T_EQ_INT(out[0], 0);
	T_EQ_INT(out[1], 100);
	T_EQ_INT(out[2], 42);
	parts[0] = 7;
	T_CHECK(elog_client_list_offsets(c, "lo", parts, ts, out, 1, &err) == -1);
	T_CHECK(strstr(err.msg, "partition 7") != NULL);
	T_CHECK(elog_client_list_offsets(c, "none", parts, ts, out, 1, &err) == -1);
	T_CHECK(strstr(err.msg, "no such topic") != NULL);
	elog_client_free(c);
	fb_stop(fb);
}

/* ================================================================ clusters */

/* A loopback port where nothing listens (bound, then closed). */
static uint16_t dead_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/*
 * A listening socket nobody accepts on. With backlog 0 and its queue filled
 * by a few connects, the kernel drops further SYNs: a connect to it hangs
 * as one to a dead host does (blackholed). With fill 0 it completes the
 * handshake and then never answers (a stopped broker). fds[0] listens,
 * fds[1..] are the fillers; close them all with silent_stop.
 */
#define SILENT_FILL 4
static uint16_t silent_start(int fill, int fds[1 + SILENT_FILL])
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	for (int i = 0; i <= SILENT_FILL; i++)
		fds[i] = -1;
	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fds[0], fill ? 0 : 16) < 0)
		return 0;
	getsockname(fds[0], (struct sockaddr *)&sa, &sl);
	for (int i = 1; fill && i <= SILENT_FILL; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	return ntohs(sa.sin_port);
}

static void silent_stop(int fds[1 + SILENT_FILL])
{
	for (int i = 0; i <= SILENT_FILL; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static struct elog_client *cluster_client(const char *brokers, int connect_timeout_ms,
					  int request_timeout_ms)
{
	struct elog_client_config cc;
	struct elog_err err;

	elog_client_config_init(&cc);
	cc.brokers = brokers;
	cc.connect_timeout_ms = connect_timeout_ms;
	cc.request_timeout_ms = request_timeout_ms;
	cc.retry_backoff_ms = 5;
	cc.retry_backoff_max_ms = 20;
	return elog_client_new(&cc, &err);
}

/*
 * Bootstrap: a broker list whose first entries are dead (refused) and
 * blackholed (the connect hangs) still reaches the live broker, the
 * blackholed one costing one connect timeout; the next metadata call goes
 * to the broker that answered, paying nothing. A connect to the blackhole
 * alone gives up at connect_timeout with a message saying so.
 */
static void test_bootstrap_past_dead_brokers(void)
{
	struct fb *fb = fb_start();
	int bh[1 + SILENT_FILL];
	uint16_t bh_port = silent_start(1, bh), dead = dead_port();
	struct elog_client *c;
	struct elog_conn conn;
	struct elog_conn_config cfg;
	struct elog_err err;
	char brokers[128];
	int64_t t0, ms;

	T_ASSERT(fb && bh_port);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u", (unsigned)dead,
		 (unsigned)bh_port, (unsigned)fb->port);
	c = cluster_client(brokers, 1000, 5000);
	T_ASSERT(c);
	t0 = elog_clock_ms();
	T_CHECK(elog_client_metadata(c, NULL, 0, &err) != NULL);
	ms = elog_clock_ms() - t0;
	T_CHECK(ms >= 900 && ms < 4000);   /* the blackhole cost its timeout, once */
	t0 = elog_clock_ms();
	T_CHECK(elog_client_metadata(c, NULL, 0, &err) != NULL);
	T_CHECK(elog_clock_ms() - t0 < 500); /* straight to the broker that answered */
	T_OK(elog_admin_create_topic(c, "boot", 1, 0, NULL, 0, &err), &err);
	elog_client_free(c);

	elog_conn_config_init(&cfg);
	cfg.connect_timeout_ms = 300;
	elog_conn_init(&conn, &cfg);
	t0 = elog_clock_ms();
	T_CHECK(elog_conn_connect(&conn, "127.0.0.1", bh_port, &err) < 0);
	ms = elog_clock_ms() - t0;
	T_CHECK(ms >= 250 && ms < 3000);
	T_CHECK(strstr(err.msg, "timed out after 300 ms") != NULL);
	T_CHECK(strncmp(err.msg, "cannot connect to 127.0.0.1:", 28) == 0);
	/* The same without blocking: it breaks at the deadline, reported by recv. */
	T_OK(elog_conn_connect_start(&conn, "127.0.0.1", bh_port, &err), &err);
	T_CHECK(elog_conn_is_connecting(&conn));
	T_CHECK(elog_conn_events(&conn) == POLLOUT);
	for (int i = 0; i < 100 && elog_conn_is_connecting(&conn); i++)
		(void)elog_conn_wait(&conn, 1000, &err);
	T_CHECK(!elog_conn_is_connecting(&conn));
	{
		struct elog_response resp;
		elog_response_init(&resp, 1u << 20);
		T_CHECK(elog_conn_recv(&conn, &resp, &err) < 0);
		T_CHECK(strstr(err.msg, "timed out after 300 ms") != NULL);
		elog_response_release(&resp);
	}
	T_CHECK(!elog_conn_is_open(&conn));
	elog_conn_release(&conn);
	silent_stop(bh);
	fb_stop(fb);
}

/* A broker that accepts and never answers is given up at the request
 * timeout, and the next one in the list answers. */
static void test_bootstrap_past_silent_broker(void)
{
	struct fb *fb = fb_start();
	int silent[1 + SILENT_FILL];
	uint16_t port = silent_start(0, silent);
	struct elog_client *c;
	struct elog_err err;
	char brokers[96];
	int64_t t0, ms;

	T_ASSERT(fb && port);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u,127.0.0.1:%u", (unsigned)port,
		 (unsigned)fb->port);
	c = cluster_client(brokers, 1000, 400);
	T_ASSERT(c);
	t0 = elog_clock_ms();
	T_CHECK(elog_client_metadata(c, NULL, 0, &err) != NULL);
	ms = elog_clock_ms() - t0;
	T_CHECK(ms >= 350 && ms < 4000);
	elog_client_free(c);
	silent_stop(silent);
	fb_stop(fb);
}

/* Read n records of topic from its partitions' start; per partition the
 * values (decimal tags) must rise; returns how many were read. */
static long read_rising(struct elog_fetcher *f, long n, long *last, int *bad)
{
	struct elog_fetched rec;
	struct elog_err err;
	long got = 0;
	int rc;

	while (got < n && (rc = elog_fetcher_next(f, &rec, 5000, &err)) > 0) {
		char text[32];
		long v;
		int len = rec.record->value_len < 31 ? rec.record->value_len : 31;
		memcpy(text, rec.record->value, (size_t)len);
		text[len] = '\0';
		v = strtol(text, NULL, 10);
		if (rec.partition >= FB_PARTS || v <= last[rec.partition])
			*bad = 1;
		else
			last[rec.partition] = v;
		got++;
	}
	return got;
}

/*
 * Leadership moves in the middle of a produce and of a fetch (two fakes
 * sharing one log): the old leader answers NOT_LEADER naming the new one;
 * the producer refreshes metadata and resends there with the same producer
 * id and sequences; every record lands once, in order; the fetcher
 * follows too and reads each record once, resuming where it was.
 */
static void test_cluster_follows_leader(void)
{
	struct fb *a = fb_start(), *b = a ? fb_start_as(a, 1) : NULL;
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_fetcher_config fc;
	struct elog_fetcher *f;
	struct elog_pos earliest = {ELOG_POS_EARLIEST, 0}, latest = {ELOG_POS_LATEST, 0};
	struct elog_err err;
	struct dlog l;
	char brokers[96];
	long last[FB_PARTS], got;
	int bad = 0, not_leader;

	T_ASSERT(a && b);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)a->port);
	c = cluster_client(brokers, 1000, 5000);
	T_ASSERT(c);
	T_OK(elog_admin_create_topic(c, "moving", 2, 0, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	p = elog_producer_new(c, "moving", &pc, &err);
	T_ASSERT(p);
	for (int i = 1; i <= 2000; i++) {
		char v[16];
		struct elog_record r;
		snprintf(v, sizeof(v), "%d", i);
		r = value_record(v, NULL);
		if (i == 1000) {
			pthread_mutex_lock(a->lock);
			a->leaders[0] = a->leaders[1] = 1;
			a->controller = 1;
			pthread_mutex_unlock(a->lock);
		}
		T_OK(elog_producer_send(p, &r, i % 2, (uint64_t)i, &err), &err);
	}
	T_OK(elog_producer_flush(p, 10000, &err), &err);
	T_EQ_INT(l.delivered, 2000);
	T_EQ_INT(l.failed, 0);
	T_CHECK(!l.out_of_order);
	T_EQ_INT(fb_count(a, "moving", 0) + fb_count(a, "moving", 1), 2000);
	FB_LOCKED(a, not_leader = a->not_leader_answers);
	T_CHECK(not_leader > 0);
	FB_LOCKED(a, T_EQ_INT(a->init_producers + b->init_producers, 1)); /* same producer id throughout */
	FB_LOCKED(a, T_CHECK(b->produce_requests > 0));
	elog_producer_free(p);

	/* Fetch: start at broker 1, move back to broker 0 half way. */
	elog_fetcher_config_init(&fc);
	fc.retry_backoff_ms = 2;
	fc.retry_backoff_max_ms = 10;
	fc.max_bytes = 4096;
	fc.partition_max_bytes = 2048;
	f = elog_fetcher_new(c, &fc, &err);
	T_ASSERT(f);
	T_OK(elog_fetcher_add(f, "moving", -1, &earliest, &latest, &err), &err);
	for (int i = 0; i < FB_PARTS; i++)
		last[i] = 0;
	got = read_rising(f, 700, last, &bad);
	pthread_mutex_lock(a->lock);
	a->leaders[0] = a->leaders[1] = 0;
	a->controller = 0;
	pthread_mutex_unlock(a->lock);
	got += read_rising(f, 2000, last, &bad);
	T_EQ_INT(got, 2000);
	T_CHECK(!bad);
	T_CHECK(elog_fetcher_done(f));
	FB_LOCKED(a, T_CHECK(b->not_leader_answers > 0 && a->fetch_requests > 0 && b->fetch_requests > 0));
	elog_fetcher_free(f);
	elog_client_free(c);
	fb_stop(b);
	fb_stop(a);
}

/*
 * A partition whose leader is blackholed (its connect hangs) does not hold
 * up the others: their records are delivered long before the connect gives
 * up. When the leader moves to a live broker, the stuck partition follows.
 */
static void test_producer_dead_leader_blocks_only_its_partitions(void)
{
	struct fb *fb = fb_start();
	int bh[1 + SILENT_FILL];
	uint16_t bh_port = silent_start(1, bh);
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	char brokers[96];
	int64_t t0;

	T_ASSERT(fb && bh_port);
	pthread_mutex_lock(fb->lock);
	fb->brokers[fb->nbrokers].id = 7;
	fb->brokers[fb->nbrokers++].port = bh_port;
	fb->leaders[0] = 7;
	pthread_mutex_unlock(fb->lock);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)fb->port);
	c = cluster_client(brokers, 3000, 5000);
	T_ASSERT(c);
	T_OK(elog_admin_create_topic(c, "split", 2, 0, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	pc.delivery_timeout_ms = 20000;
	p = elog_producer_new(c, "split", &pc, &err);
	T_ASSERT(p);
	t0 = elog_clock_ms();
	for (int i = 0; i < 200; i++) {
		struct elog_record r = value_record("a value", NULL);
		T_OK(elog_producer_send(p, &r, i % 2, (uint64_t)i, &err), &err);
	}
	while (l.delivered < 100 && elog_clock_ms() - t0 < 10000)
		T_OK(elog_producer_poll(p, 50, &err), &err);
	T_EQ_INT(l.delivered, 100);              /* partition 1's, ... */
	T_CHECK(elog_clock_ms() - t0 < 2500);    /* ... well before the 3 s connect timeout */
	T_EQ_INT(fb_count(fb, "split", 0), 0);
	FB_LOCKED(fb, fb->leaders[0] = 0);
	T_OK(elog_producer_flush(p, 15000, &err), &err);
	T_EQ_INT(l.delivered, 200);
	T_EQ_INT(l.failed, 0);
	T_EQ_INT(fb_count(fb, "split", 0), 100);
	elog_producer_free(p);
	elog_client_free(c);
	silent_stop(bh);
	fb_stop(fb);
}

/* An admin call whose controller is dead goes to the new controller named
 * by any broker that still answers. */
static void test_admin_follows_controller(void)
{
	struct fb *a = fb_start(), *b = a ? fb_start_as(a, 1) : NULL;
	struct elog_client *c;
	struct elog_err err;
	char brokers[96];
	uint16_t dead = dead_port();

	T_ASSERT(a && b);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)b->port);
	c = cluster_client(brokers, 1000, 5000);
	T_ASSERT(c);
	T_OK(elog_admin_create_topic(c, "first", 1, 0, NULL, 0, &err), &err);
	/* The controller (broker 0) "dies": metadata names a dead address for it
	 * until broker 1 takes over. */
	pthread_mutex_lock(a->lock);
	a->brokers[0].port = dead;
	a->controller = 0;
	pthread_mutex_unlock(a->lock);
	elog_client_free(c);
	c = cluster_client(brokers, 1000, 5000);
	T_ASSERT(c);
	T_CHECK(elog_client_metadata(c, NULL, 0, &err) != NULL);
	FB_LOCKED(a, a->controller = 1);
	T_OK(elog_admin_create_topic(c, "second", 1, 0, NULL, 0, &err), &err);
	T_CHECK(fb_topic(a, "second", 6) != NULL);
	elog_client_free(c);
	fb_stop(b);
	fb_stop(a);
}

/*
 * Ordering across a leader change: partition 0's first batch is in flight
 * to broker 0, which has stopped reading, when the producer learns (from
 * another partition's LEADER_UNKNOWN) that broker 1 leads partition 0 now.
 * The second batch must not go to broker 1 before the first.
 * Without idempotence the first is in doubt until broker 0 answers: the
 * second waits, and once broker 0 answers NOT_LEADER both go to broker 1,
 * in order. With idempotence the producer drops the stopped broker's
 * connection at once and resends both to broker 1, in order, with the same
 * sequences: no sequence error, no wait for the stopped broker.
 */
static void producer_leader_change(int idempotence)
{
	struct fb *a = fb_start(), *b = a ? fb_start_as(a, 1) : NULL;
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_err err;
	struct dlog l;
	char brokers[64];
	int64_t t0;
	int errors;

	T_ASSERT(a && b);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)b->port);
	c = cluster_client(brokers, 1000, 5000);
	T_ASSERT(c);
	pthread_mutex_lock(a->lock);
	a->controller = 1;
	a->leaders[1] = 1;
	pthread_mutex_unlock(a->lock);
	T_OK(elog_admin_create_topic(c, "order", 2, 0, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	pc.idempotence = idempotence;
	p = elog_producer_new(c, "order", &pc, &err);
	T_ASSERT(p);
	FB_LOCKED(a, a->stall = 1);
	{
		struct elog_record r = value_record("1", NULL);
		T_OK(elog_producer_send(p, &r, 0, 1, &err), &err);
	}
	t0 = elog_clock_ms();
	for (struct elog_producer_stats st = {0}; st.requests < 1 && elog_clock_ms() - t0 < 5000;
	     elog_producer_stats(p, &st))
		T_OK(elog_producer_poll(p, 5, &err), &err);
	pthread_mutex_lock(a->lock);
	a->leaders[0] = 1;
	b->produce_errors_left = 1;
	b->produce_error = ELOG_PE_LEADER_UNKNOWN;
	pthread_mutex_unlock(a->lock);
	{
		struct elog_record r = value_record("x", NULL);
		T_OK(elog_producer_send(p, &r, 1, 100, &err), &err);
	}
	/* Partition 1's retry on broker 1 shows the refresh happened. */
	t0 = elog_clock_ms();
	while (l.delivered < 1 && elog_clock_ms() - t0 < 5000)
		T_OK(elog_producer_poll(p, 5, &err), &err);
	/* With idempotence partition 0's first batch may already have followed. */
	T_CHECK(idempotence ? l.delivered >= 1 : l.delivered == 1);
	{
		struct elog_record r = value_record("2", NULL);
		T_OK(elog_producer_send(p, &r, 0, 2, &err), &err);
	}
	t0 = elog_clock_ms();
	if (idempotence) {
		/* Both delivered by broker 1 while broker 0 is still stopped. */
		while (l.delivered < 3 && elog_clock_ms() - t0 < 3000)
			T_OK(elog_producer_poll(p, 5, &err), &err);
		T_EQ_INT(l.delivered, 3);
	} else {
		while (elog_clock_ms() - t0 < 200)
			T_OK(elog_producer_poll(p, 5, &err), &err);
		T_EQ_INT(fb_count(a, "order", 0), 0);   /* batch 2 waits behind batch 1 */
	}
	FB_LOCKED(a, a->stall = 0);
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	T_EQ_INT(l.delivered, 3);
	T_EQ_INT(l.failed, 0);
	T_EQ_INT(fb_count(a, "order", 0), 2);
	FB_LOCKED(a, errors = a->sequence_errors + b->sequence_errors);
	T_EQ_INT(errors, 0);
	pthread_mutex_lock(a->lock);
	{
		struct fb_topic *t = fb_topic(a, "order", 5);
		struct elog_batch_reader br;
		struct elog_record_view v;
		char seen[3] = "";
		size_t k = 0;
		elog_batch_reader_init(&br);
		for (size_t i = 0; t && i < t->parts[0]->nbatches; i++)
			if (elog_batch_reader_open(&br, t->parts[0]->batches[i].data, t->parts[0]->batches[i].len, NULL) == 0)
				while (elog_batch_reader_next(&br, &v, NULL) == 1 && k < 2)
					seen[k++] = (char)v.value[0];
		elog_batch_reader_release(&br);
		T_CHECK(strcmp(seen, "12") == 0);
	}
	pthread_mutex_unlock(a->lock);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(b);
	fb_stop(a);
}

static void test_producer_no_reorder_across_leader_change(void)
{
	producer_leader_change(0);
}

static void test_producer_leaves_a_stopped_leader_behind(void)
{
	producer_leader_change(1);
}

/*
 * A leader that stops answering (SIGSTOP, a network cut) says nothing: no
 * NOT_LEADER, no lost connection. A produce or fetch left unanswered for a
 * second makes the client ask metadata whether the leader moved; when it
 * did, the request goes to the new leader well before the request timeout.
 */
static void test_stuck_requests_follow_a_moved_leader(void)
{
	struct fb *a = fb_start(), *b = a ? fb_start_as(a, 1) : NULL;
	struct elog_client *c;
	struct elog_producer *p;
	struct elog_producer_config pc;
	struct elog_fetcher_config fc;
	struct elog_fetcher *f;
	struct elog_fetched rec;
	struct elog_pos earliest = {ELOG_POS_EARLIEST, 0};
	struct elog_record r1 = value_record("1", NULL), r2 = value_record("2", NULL);
	struct elog_err err;
	struct dlog l;
	char brokers[64];
	int64_t t0;

	T_ASSERT(a && b);
	snprintf(brokers, sizeof(brokers), "127.0.0.1:%u", (unsigned)b->port);
	c = cluster_client(brokers, 1000, 10000);
	T_ASSERT(c);
	FB_LOCKED(a, a->controller = 1);
	T_OK(elog_admin_create_topic(c, "stuck", 1, 0, NULL, 0, &err), &err);
	producer_config(&pc, &l);
	pc.request_timeout_ms = 10000;
	pc.delivery_timeout_ms = 20000;
	p = elog_producer_new(c, "stuck", &pc, &err);
	T_ASSERT(p);
	T_OK(elog_producer_send(p, &r1, 0, 1, &err), &err);
	T_OK(elog_producer_flush(p, 5000, &err), &err);
	elog_fetcher_config_init(&fc);
	fc.max_wait_ms = 100;
	fc.retry_backoff_ms = 2;
	fc.retry_backoff_max_ms = 10;
	f = elog_fetcher_new(c, &fc, &err);
	T_ASSERT(f);
	T_OK(elog_fetcher_add(f, "stuck", 0, &earliest, NULL, &err), &err);
	T_EQ_INT(elog_fetcher_next(f, &rec, 5000, &err), 1);
	T_EQ_INT(rec.record->offset, 0);
	T_EQ_INT(elog_fetcher_next(f, &rec, 150, &err), 0); /* a long poll now waits at broker 0 */

	pthread_mutex_lock(a->lock);
	a->stall = 1;
	a->leaders[0] = 1;
	pthread_mutex_unlock(a->lock);
	t0 = elog_clock_ms();
	T_OK(elog_producer_send(p, &r2, 0, 2, &err), &err);
	T_OK(elog_producer_flush(p, 8000, &err), &err);
	T_EQ_INT(l.delivered, 2);
	T_CHECK(elog_clock_ms() - t0 < 5000);       /* not the 10 s request timeout */
	T_EQ_INT(elog_fetcher_next(f, &rec, 8000, &err), 1);
	T_EQ_INT(rec.record->offset, 1);
	T_CHECK(elog_clock_ms() - t0 < 7000);
	FB_LOCKED(a, a->stall = 0);
	elog_fetcher_free(f);
	elog_producer_free(p);
	elog_client_free(c);
	fb_stop(b);
	fb_stop(a);
}

int main(void)
{
	T_RUN(test_brokers_parse);
	T_RUN(test_brokers_choose);
	T_RUN(test_backoff_schedule);
	T_RUN(test_batching_decisions);
	T_RUN(test_pos_parse);
	T_RUN(test_errcode_mapping);
	T_RUN(test_encode_fetch_layout);
	T_RUN(test_encode_list_offsets_and_metadata);
	T_RUN(test_decode_metadata);
	T_RUN(test_decode_describe);
	T_RUN(test_decode_produce_and_fetch_responses);
	T_RUN(test_batch_set_producer);
	T_RUN(test_connect_refused_message);
	T_RUN(test_conn_pipelining_out_of_order);
	T_RUN(test_conn_bounds);
	T_RUN(test_admin_and_metadata);
	T_RUN(test_producer_keys_and_spread);
	T_RUN(test_producer_retries_not_leader);
	T_RUN(test_producer_idempotent_resend_after_drop);
	T_RUN(test_producer_reports_in_order_after_timeout);
	T_RUN(test_producer_blocked_partition_fills_one_batch);
	T_RUN(test_producer_waits_without_spinning);
	T_RUN(test_admin_retry_after_lost_answer);
	T_RUN(test_producer_expiry_releases_held_batches);
	T_RUN(test_producer_final_error_and_tags);
	T_RUN(test_producer_gives_up_indeterminate_after_resends);
	T_RUN(test_producer_no_renumbering_of_a_maybe_written_batch);
	T_RUN(test_producer_delivery_timeout);
	T_RUN(test_producer_unknown_topic);
	T_RUN(test_producer_acks_zero);
	T_RUN(test_fetcher_positions);
	T_RUN(test_fetcher_follow_and_seek);
	T_RUN(test_fetcher_refuses_offset_gaps);
	T_RUN(test_fetcher_caught_up);
	T_RUN(test_list_offsets);
	T_RUN(test_bootstrap_past_dead_brokers);
	T_RUN(test_bootstrap_past_silent_broker);
	T_RUN(test_cluster_follows_leader);
	T_RUN(test_producer_dead_leader_blocks_only_its_partitions);
	T_RUN(test_admin_follows_controller);
	T_RUN(test_producer_no_reorder_across_leader_change);
	T_RUN(test_producer_leaves_a_stopped_leader_behind);
	T_RUN(test_stuck_requests_follow_a_moved_leader);
	return t_finish();
}
