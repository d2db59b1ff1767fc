/* raftauth — HELLOs that prove a peer knows the cluster secret; see raftauth.h. */
#include "raftauth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"

#define HELLO_LABEL "elog raft hello 1"

int elog_raftauth_init(struct elog_raftauth *a, const uint8_t *secret, size_t len,
		       struct elog_err *err)
{
	memset(a, 0, sizeof(*a));
	if (sodium_init() < 0)
		return elog_err_set(err, ELOG_E_IO, "libsodium cannot start");
	if (len < ELOG_RAFTAUTH_SECRET_MIN || len > ELOG_RAFTAUTH_SECRET_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "the secret is %zu bytes, not %u to %u", len,
				    ELOG_RAFTAUTH_SECRET_MIN, ELOG_RAFTAUTH_SECRET_MAX);
	crypto_generichash(a->key, sizeof(a->key), secret, len, NULL, 0);
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		a->floor_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	}
	return 0;
}

int elog_raftauth_load(struct elog_raftauth *a, const char *path, struct elog_err *err)
{
	uint8_t buf[ELOG_RAFTAUTH_SECRET_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot open", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return elog_err_set(err, ELOG_E_INVAL, "%s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return elog_err_set(err, ELOG_E_INVAL,
				    "%s: readable or writable by group or others (mode %03o): chmod 600 it",
				    path, (unsigned)(st.st_mode & 0777));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return elog_err_errno(err, ELOG_E_IO, errno, "%s: cannot read", path);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	rc = elog_raftauth_init(a, buf, (size_t)n, err);
	sodium_memzero(buf, sizeof(buf));
	return rc < 0 ? elog_err_prefix(err, "%s", path) : 0;
}

static void mac_of(const struct elog_raftauth *a, int32_t from, int32_t to, uint64_t unix_ms,
		   const uint8_t *nonce, uint8_t *mac)
{
	uint8_t msg[sizeof(HELLO_LABEL) - 1 + 4 + 4 + 8 + ELOG_RAFTAUTH_NONCE_BYTES];
	size_t o = sizeof(HELLO_LABEL) - 1;

	memcpy(msg, HELLO_LABEL, o);
	elog_put32(msg + o, (uint32_t)from);
	elog_put32(msg + o + 4, (uint32_t)to);
	elog_put64(msg + o + 8, unix_ms);
	memcpy(msg + o + 16, nonce, ELOG_RAFTAUTH_NONCE_BYTES);
	crypto_auth_hmacsha256(mac, msg, sizeof(msg), a->key);
}

void elog_raftauth_hello(struct elog_raftauth *a, int32_t from, int32_t to,
			 struct elog_raftauth_hello *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	out->unix_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (out->unix_ms <= a->sent_ms)
		out->unix_ms = a->sent_ms + 1;
	a->sent_ms = out->unix_ms;
	randombytes_buf(out->nonce, sizeof(out->nonce));
	mac_of(a, from, to, out->unix_ms, out->nonce, out->mac);
}

int elog_raftauth_check(struct elog_raftauth *a, int32_t from, int32_t to,
			const struct elog_raftauth_hello *h, uint64_t now_unix_ms,
			struct elog_err *err)
{
	uint8_t mac[ELOG_RAFTAUTH_MAC_BYTES];
	uint32_t i;
	uint64_t skew = h->unix_ms > now_unix_ms ? h->unix_ms - now_unix_ms : now_unix_ms - h->unix_ms;

	mac_of(a, from, to, h->unix_ms, h->nonce, mac);
	if (sodium_memcmp(mac, h->mac, sizeof(mac)) != 0)
		return elog_err_set(err, ELOG_E_INVAL,
				    "hello from broker %d: wrong secret (or not a peer's hello)", (int)from);
	if (skew > ELOG_RAFTAUTH_SKEW_MS)
		return elog_err_set(err, ELOG_E_INVAL,
				    "hello from broker %d: its clock is %llu ms from ours (at most %u)",
				    (int)from, (unsigned long long)skew, ELOG_RAFTAUTH_SKEW_MS);
	/* A HELLO made before this process started was recorded by someone:
	 * the last-accepted times below were lost with the previous one. */
	if (h->unix_ms < a->floor_ms)
		return elog_err_set(err, ELOG_E_INVAL,
				    "hello from broker %d: older than this broker's start (replayed?)",
				    (int)from);
	for (i = 0; i < a->last_count && a->last[i].id != from; i++)
		;
	if (i < a->last_count && h->unix_ms <= a->last[i].unix_ms)
		return elog_err_set(err, ELOG_E_INVAL,
				    "hello from broker %d: replayed (not later than its last)", (int)from);
	if (i == a->last_count) {
		if (a->last_count == ELOG_RAFTAUTH_PEERS_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "hello from broker %d: too many brokers",
					    (int)from);
		a->last_count++;
		a->last[i].id = from;
	}
	a->last[i].unix_ms = h->unix_ms;
	return 0;
}
