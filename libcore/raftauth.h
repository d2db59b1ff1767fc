/*
 * raftauth — who may speak RAFT to a broker. Brokers of a cluster share a
 * secret (the file named by the config key `cluster_secret_file`, the same
 * file on every broker, docs/operations.md "Authenticating the cluster").
 * A broker's outbound connection to a peer opens with a HELLO message (the
 * first of its first frame) that proves it knows the secret:
 *
 *     mac = HMAC-SHA-256(key, "elog raft hello 1" | from | to | unix_ms | nonce)
 *     key = BLAKE2b-256(secret)
 *
 * from and to as i32 little-endian, unix_ms as u64, nonce 16 random bytes.
 * The receiver accepts RAFT frames on that connection, from that broker
 * id, once the MAC checks, the time is within ELOG_RAFTAUTH_SKEW_MS of its
 * own clock, and it is later than the last HELLO it accepted from that
 * broker (a recorded HELLO replayed on a new connection is refused; a
 * sender's HELLO times strictly increase). Anything else on a connection
 * that has not said HELLO is dropped. Without a secret no HELLO is sent or
 * required, and anyone who reaches the port can speak for a broker: a
 * forged APPEND could make a follower cut committed records.
 *
 * Only the connection is authenticated, not each frame: someone who can
 * take over an established TCP connection is out of scope (use a private
 * network, or a VPN between brokers).
 */
#ifndef ELOG_RAFTAUTH_H
#define ELOG_RAFTAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ELOG_RAFTAUTH_KEY_BYTES 32
#define ELOG_RAFTAUTH_NONCE_BYTES 16
#define ELOG_RAFTAUTH_MAC_BYTES 32
#define ELOG_RAFTAUTH_SECRET_MIN 32        /* bytes of secret, at least */
#define ELOG_RAFTAUTH_SECRET_MAX 4096
#define ELOG_RAFTAUTH_SKEW_MS 60000        /* clocks may differ this much */
#define ELOG_RAFTAUTH_PEERS_MAX 8

struct elog_raftauth {
	uint8_t key[ELOG_RAFTAUTH_KEY_BYTES];
	/* The time of the last HELLO accepted from each broker, and sent. */
	struct {
		int32_t id;
		uint64_t unix_ms;
	} last[ELOG_RAFTAUTH_PEERS_MAX];
	uint32_t last_count;
	uint64_t sent_ms;
	uint64_t floor_ms;       /* when this process started checking: older HELLOs
	                            are replays across its restart */
};

struct elog_raftauth_hello {
	uint64_t unix_ms;
	uint8_t nonce[ELOG_RAFTAUTH_NONCE_BYTES];
	uint8_t mac[ELOG_RAFTAUTH_MAC_BYTES];
};

/*
 * Read the secret from path and derive the key. Refused, saying why: a
 * file that cannot be read, is not a regular file, can be read by group or
 * others (chmod 600), or holds fewer than ELOG_RAFTAUTH_SECRET_MIN bytes
 * (one trailing newline is not counted) or more than the maximum.
 */
int elog_raftauth_load(struct elog_raftauth *a, const char *path, struct elog_err *err);
/* Initialise from a secret already in memory (tests). */
int elog_raftauth_init(struct elog_raftauth *a, const uint8_t *secret, size_t len,
		       struct elog_err *err);
/* A HELLO from `from` to `to`, now (later than the last one made). */
void elog_raftauth_hello(struct elog_raftauth *a, int32_t from, int32_t to,
			 struct elog_raftauth_hello *out);
/* Check a HELLO received at now_unix_ms; records its time when good.
 * -1 with a one-line reason (wrong secret, clocks apart, replayed). */
int elog_raftauth_check(struct elog_raftauth *a, int32_t from, int32_t to,
			const struct elog_raftauth_hello *h, uint64_t now_unix_ms,
			struct elog_err *err);

#endif
