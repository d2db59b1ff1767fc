/* Unit tests: raftauth — a HELLO checks with the same secret only, for the
 * broker pair it names, within the clock window, once; secret files. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raftauth.h"
#include "t.h"

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef-cluster";
static const uint8_t other[] = "0123456789abcdef0123456789abcdef-another";

static void test_hello(void)
{
	struct elog_raftauth a, b, c;
	struct elog_raftauth_hello h, h2, bad;
	struct elog_err err;

	T_OK(elog_raftauth_init(&a, secret, sizeof(secret) - 1, &err), &err);
	T_OK(elog_raftauth_init(&b, secret, sizeof(secret) - 1, &err), &err);
	T_OK(elog_raftauth_init(&c, other, sizeof(other) - 1, &err), &err);
	elog_raftauth_hello(&a, 2, 1, &h);
	/* Another secret, or another pair of brokers: refused. */
	T_EQ_INT(elog_raftauth_check(&c, 2, 1, &h, h.unix_ms, &err), -1);
	T_CHECK(strstr(err.msg, "wrong secret") != NULL);
	T_EQ_INT(elog_raftauth_check(&b, 3, 1, &h, h.unix_ms, &err), -1);
	T_EQ_INT(elog_raftauth_check(&b, 2, 3, &h, h.unix_ms, &err), -1);
	/* Any changed byte: refused. */
	for (size_t i = 0; i < sizeof(h); i++) {
		bad = h;
		((uint8_t *)&bad)[i] ^= 0x01;
		T_EQ_INT(elog_raftauth_check(&b, 2, 1, &bad, h.unix_ms, &err), -1);
	}
	/* Clocks further apart than the window: refused. */
	T_EQ_INT(elog_raftauth_check(&b, 2, 1, &h, h.unix_ms + ELOG_RAFTAUTH_SKEW_MS + 1, &err), -1);
	T_CHECK(strstr(err.msg, "clock") != NULL);
	/* Good, once; replayed, refused; the next one (later) is good. */
	T_OK(elog_raftauth_check(&b, 2, 1, &h, h.unix_ms + 5, &err), &err);
	T_EQ_INT(elog_raftauth_check(&b, 2, 1, &h, h.unix_ms + 6, &err), -1);
	T_CHECK(strstr(err.msg, "replayed") != NULL);
	elog_raftauth_hello(&a, 2, 1, &h2);
	T_CHECK(h2.unix_ms > h.unix_ms);
	T_OK(elog_raftauth_check(&b, 2, 1, &h2, h2.unix_ms, &err), &err);
	/* Made before the receiver started (its last-accepted times were lost
	 * with its previous run): a replay across a restart, refused. */
	{
		struct elog_raftauth fresh;
		struct elog_raftauth_hello old;
		elog_raftauth_hello(&a, 2, 1, &old);
		usleep(5000);
		T_OK(elog_raftauth_init(&fresh, secret, sizeof(secret) - 1, &err), &err);
		T_EQ_INT(elog_raftauth_check(&fresh, 2, 1, &old, old.unix_ms + 10, &err), -1);
		T_CHECK(strstr(err.msg, "older than this broker's start") != NULL);
	}
	/* A short secret is refused. */
	T_EQ_INT(elog_raftauth_init(&c, secret, 31, &err), -1);
}

static void test_secret_file(void)
{
	char path[] = "/tmp/elog-raftauth-XXXXXX";
	struct elog_raftauth a, b;
	struct elog_raftauth_hello h;
	struct elog_err err;
	int fd = mkstemp(path);

	T_ASSERT(fd >= 0);
	T_ASSERT(write(fd, secret, sizeof(secret) - 1) == (ssize_t)(sizeof(secret) - 1));
	T_ASSERT(write(fd, "\n", 1) == 1);
	close(fd);
	T_ASSERT(chmod(path, 0600) == 0);
	/* The trailing newline is not part of the secret. */
	T_OK(elog_raftauth_load(&a, path, &err), &err);
	T_OK(elog_raftauth_init(&b, secret, sizeof(secret) - 1, &err), &err);
	elog_raftauth_hello(&a, 1, 2, &h);
	T_OK(elog_raftauth_check(&b, 1, 2, &h, h.unix_ms, &err), &err);
	T_ASSERT(chmod(path, 0640) == 0);
	T_EQ_INT(elog_raftauth_load(&a, path, &err), -1);
	T_CHECK(strstr(err.msg, "chmod 600") != NULL);
	unlink(path);
	T_EQ_INT(elog_raftauth_load(&a, path, &err), -1);
	T_CHECK(strstr(err.msg, "cannot open") != NULL);
}

int main(void)
{
	T_RUN(test_hello);
	T_RUN(test_secret_file);
	return t_finish();
}
