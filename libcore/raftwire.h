/*
 * raftwire — the RAFT api (11): frames between the brokers of a cluster,
 * each carrying many Raft messages of many groups (docs/protocol.md,
 * "RAFT"). One-way: a RAFT request has no response frame; answers are
 * RAFT frames the other way, on the answering broker's own connection.
 *
 * Body of a RAFT request, version 1 (little-endian, proto.h's field codec):
 *
 *   i32 from                  sending broker id
 *   i32 to                    receiving broker id
 *   u32 count                 messages, then each:
 *     string topic            "" for the metadata group
 *     u32 partition
 *     i64 incarnation         the topic's create record offset in the
 *                             metadata log (0 for the metadata group)
 *     u8  type                enum elog_raft_msg_type
 *     u64 term
 *     per type:
 *       APPEND          i64 prev_end, u64 prev_term, i64 commit,
 *                       i64 leader_start, u64 start_term,
 *                       bytes batches (stored batches, as on disk)
 *       APPEND_RESP     u8 success, i64 end, i64 durable_end, i64 commit,
 *                       u64 hint_term, i64 hint_end
 *       VOTE, PREVOTE   i64 last_end, u64 last_term, u8 transfer
 *       VOTE_RESP       u8 granted, u8 prevote
 *       HEARTBEAT       i64 commit, u8 quiesce
 *       HEARTBEAT_RESP  i64 durable_end, i64 commit, u8 wake
 *       TIMEOUT_NOW     nothing
 *       LEADER (16)     nothing: not a Raft message but the driver's hint
 *                       that the sender leads the group in `term`, sent
 *                       to brokers that hold no replica of it (so their
 *                       METADATA can name the leader)
 *       HELLO (17)      u64 unix_ms, bytes nonce (16), bytes mac (32):
 *                       the connection's first message when the cluster
 *                       has a secret (raftauth.h); metadata group id, term 0
 *       LEAVING (18)    nothing: the sender is shutting down and refuses
 *                       leaderships (TIMEOUT_NOW); sent every tick while
 *                       it hands its own over, last in its frame (a
 *                       broker from before it drops only this message);
 *                       metadata group id, term 0
 *
 * Decoding is per type (a union decoded whatever its type once hid a bug in
 * the simulator's driver). Every count and length is checked against the
 * bytes left; the values themselves are judged by elog_raft_step, which
 * ignores a malformed message, and the batches by elog_raftwire_batches
 * and the validator.
 */
#ifndef ELOG_RAFTWIRE_H
#define ELOG_RAFTWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "proto.h"
#include "raft.h"
#include "raftauth.h"

/* The smallest message (TIMEOUT_NOW with an empty topic). */
#define ELOG_RAFTWIRE_MSG_MIN_BYTES (2 + 4 + 8 + 1 + 8)

/* The type bytes of the driver's own messages (after the core's). */
#define ELOG_RAFTWIRE_LEADER 16
#define ELOG_RAFTWIRE_HELLO 17
#define ELOG_RAFTWIRE_LEAVING 18

/* Which group a message is for. */
struct elog_raftwire_group {
	const char *topic;    /* "" (length 0) for the metadata group; a span, not NUL-terminated */
	size_t topic_len;
	uint32_t partition;
	int64_t incarnation;
};

struct elog_raftwire_msg {
	struct elog_raftwire_group group;
	struct elog_raft_msg msg;      /* from, to filled from the frame; APPEND without batches */
	const uint8_t *batches;        /* APPEND: the batch bytes (a span into the frame) */
	size_t batches_len;
	int leader_hint;               /* a LEADER hint: msg.from leads the group in msg.term;
	                                  msg.type is 0 (no Raft message) */
	int is_hello;                  /* a HELLO (msg.type 0): hello holds it */
	int leaving;                   /* a LEAVING (msg.type 0): msg.from is shutting down */
	struct elog_raftauth_hello hello;
};

struct elog_raftwire_reader {
	struct elog_wire_r r;
	int32_t from, to;
	uint32_t left;                 /* messages not read yet */
};

/* Start reading a RAFT body: from, to and the count. -1 (ELOG_E_CORRUPT) if malformed. */
int elog_raftwire_open(struct elog_raftwire_reader *rd, const uint8_t *body, size_t len,
		       struct elog_err *err);
/* The next message: 1, 0 at the end (every byte read), -1 malformed. */
int elog_raftwire_next(struct elog_raftwire_reader *rd, struct elog_raftwire_msg *m,
		       struct elog_err *err);

/* Write the head of a RAFT frame; returns the position of its count, to
 * be patched with elog_wire_patch_count once the messages are in. */
size_t elog_raftwire_begin(struct elog_wire_w *w, int32_t from, int32_t to, uint32_t seq);
/* One message; an APPEND carries batches[0..len). */
void elog_raftwire_put(struct elog_wire_w *w, const struct elog_raftwire_group *g,
		       const struct elog_raft_msg *m, const uint8_t *batches, size_t len);

/* A HELLO, the first message on a connection to a peer (raftauth.h). */
void elog_raftwire_put_hello(struct elog_wire_w *w, const struct elog_raftauth_hello *h);
/* A LEADER hint: this broker leads group g in term. */
void elog_raftwire_put_leader(struct elog_wire_w *w, const struct elog_raftwire_group *g,
			      uint64_t term);
/* A LEAVING: this broker is shutting down. */
void elog_raftwire_put_leaving(struct elog_wire_w *w);

/*
 * The descriptors of the batches in p[0..len): each header decoded and its
 * length checked against the bytes, offsets contiguous (each batch starts
 * one past the last's end), at most cap of them. No CRC or record check:
 * the follower validates every batch before it appends it.
 */
int elog_raftwire_batches(const uint8_t *p, size_t len, struct elog_raft_batch *out,
			  uint32_t cap, uint32_t *count, struct elog_err *err);

#endif
