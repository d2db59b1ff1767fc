/*
 * Unit tests: runner — --exec verdicts (exit, retry set, signal, timeout),
 * environment, large inputs, stderr tails, concurrent slots, the caller's
 * own poll; --coproc pipelining, answers, failures (exit, bad answer, too
 * long a line, closed stdout, signal, timeout) with restart backoff; the
 * limits; free killing what runs. "# " lines measure throughput (exec
 * /bin/true on 2 slots; perl, sed -u and a shell loop as co-processes on
 * 1024 slots).
 *
 * Every wait is a poll loop with a deadline; nothing sleeps to synchronise.
 * Children are watched through pidfds; under valgrind (3.19 lacks
 * pidfd_open) the same tests run the waitpid-on-a-timer fallback.
 */
#include "t.h"
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#define MIB (1u << 20)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct elog_runner *mk(struct elog_runner_config *cfg, enum elog_runner_mode mode,
			      const char *command, uint32_t slots, uint32_t timeout_ms)
{
	struct elog_err err;
	struct elog_runner *r;

	cfg->mode = mode;
	cfg->command = command;
	cfg->slots = slots;
	cfg->timeout_ms = timeout_ms;
	cfg->quiet = 1;
	r = elog_runner_new(cfg, &err);
	if (!r)
		fprintf(stderr, "# elog_runner_new: %s\n", err.msg);
	return r;
}

static struct elog_runner *mk_simple(enum elog_runner_mode mode, const char *command,
				     uint32_t slots, uint32_t timeout_ms)
{
	struct elog_runner_config cfg;

	elog_runner_config_init(&cfg);
	return mk(&cfg, mode, command, slots, timeout_ms);
}

/* Poll until `want` verdicts arrived or deadline_ms passed; how many arrived. */
static size_t collect(struct elog_runner *r, struct elog_runner_verdict *out, size_t want,
		      int deadline_ms)
{
	int64_t end = now_ms() + deadline_ms;
	struct elog_err err;
	size_t got = 0;

	while (got < want && now_ms() < end) {
		int n = elog_runner_poll(r, 50, out + got, want - got, &err);
		if (n < 0) {
			fprintf(stderr, "# elog_runner_poll: %s\n", err.msg);
			break;
		}
		got += (size_t)n;
	}
	return got;
}

static int start(struct elog_runner *r, uint64_t tag, const void *input, size_t len,
		 const char *const *env, size_t env_count)
{
	struct elog_runner_job job = {tag, input, len, env, env_count};
	struct elog_err err;

	if (elog_runner_start(r, &job, &err) < 0) {
		fprintf(stderr, "# elog_runner_start: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Run one job alone; its verdict in *v. */
static int run1(struct elog_runner *r, const void *input, size_t len, const char *const *env,
		size_t env_count, struct elog_runner_verdict *v, int deadline_ms)
{
	if (start(r, 7, input, len, env, env_count) < 0)
		return -1;
	if (collect(r, v, 1, deadline_ms) != 1)
		return -1;
	return v->tag == 7 ? 0 : -1;
}

static int is(const struct elog_runner_verdict *v, enum elog_verdict_kind kind, const char *text)
{
	if (v->kind == kind && strcmp(v->verdict, text) == 0)
		return 1;
	fprintf(stderr, "# verdict %d \"%s\", wanted %d \"%s\"\n", (int)v->kind, v->verdict,
		(int)kind, text);
	return 0;
}

/* ------------------------------------------------------------ exec */

static void test_exec_statuses(void)
{
	struct elog_runner_verdict v[3];
	struct elog_runner_config cfg;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "exit ${ELOG_CODE:-0}", 4, 5000);
	const char *env0[] = {"ELOG_CODE=0"}, *env75[] = {"ELOG_CODE=75"}, *env3[] = {"ELOG_CODE=3"};

	T_ASSERT(r);
	T_ASSERT(start(r, 0, "", 0, env0, 1) == 0);
	T_ASSERT(start(r, 75, "x", 1, env75, 1) == 0);
	T_ASSERT(start(r, 3, NULL, 0, env3, 1) == 0);
	T_CHECK(elog_runner_running(r) == 3);
	T_ASSERT(collect(r, v, 3, 5000) == 3);
	for (int i = 0; i < 3; i++) {
		if (v[i].tag == 0)
			T_CHECK(is(&v[i], ELOG_VERDICT_OK, ""));
		else if (v[i].tag == 75)
			T_CHECK(is(&v[i], ELOG_VERDICT_RETRY, "exit 75"));
		else
			T_CHECK(v[i].tag == 3 && is(&v[i], ELOG_VERDICT_FAIL, "exit 3"));
		T_CHECK(v[i].stderr_len == 0);
	}
	T_CHECK(elog_runner_running(r) == 0 && elog_runner_free_slots(r) == 4);
	elog_runner_free(r, 0);

	/* --retry-on 1-3 (and not 75) */
	elog_runner_config_init(&cfg);
	cfg.retry_status[75] = 0;
	cfg.retry_status[1] = cfg.retry_status[2] = cfg.retry_status[3] = 1;
	r = mk(&cfg, ELOG_RUNNER_EXEC, "exit ${ELOG_CODE:-0}", 1, 5000);
	T_ASSERT(r);
	T_ASSERT(run1(r, "", 0, env3, 1, v, 5000) == 0);
	T_CHECK(is(v, ELOG_VERDICT_RETRY, "exit 3"));
	T_ASSERT(run1(r, "", 0, env75, 1, v, 5000) == 0);
	T_CHECK(is(v, ELOG_VERDICT_FAIL, "exit 75"));
	elog_runner_free(r, 0);
}

static void test_exec_signals(void)
{
	struct elog_runner_verdict v;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "kill -$SIG $$; exit 9", 1, 5000);
	const char *kill9[] = {"SIG=KILL"}, *pipe[] = {"SIG=PIPE"}, *term[] = {"SIG=TERM"};
	sigset_t block, old;

	T_ASSERT(r);
	T_ASSERT(run1(r, "", 0, kill9, 1, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "signal SIGKILL"));
	/* This process ignores SIGPIPE; the command must not inherit that. */
	T_ASSERT(run1(r, "", 0, pipe, 1, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "signal SIGPIPE"));
	/* Nor a blocked signal mask. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	T_CHECK(run1(r, "", 0, term, 1, &v, 5000) == 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "signal SIGTERM"));
	elog_runner_free(r, 0);

	/* A shell reports a command a signal killed as 128 + N: a signal too,
	 * unless --retry-on names the status; 255 stays an exit status. */
	r = mk_simple(ELOG_RUNNER_EXEC, "exit ${ELOG_CODE:-0}", 1, 5000);
	T_ASSERT(r);
	{
		const char *e137[] = {"ELOG_CODE=137"}, *e255[] = {"ELOG_CODE=255"};
		T_ASSERT(run1(r, "", 0, e137, 1, &v, 5000) == 0);
		T_CHECK(is(&v, ELOG_VERDICT_RETRY, "signal SIGKILL"));
		T_ASSERT(run1(r, "", 0, e255, 1, &v, 5000) == 0);
		T_CHECK(is(&v, ELOG_VERDICT_FAIL, "exit 255"));
	}
	elog_runner_free(r, 0);
}

static void test_exec_timeout(void)
{
	struct elog_runner_verdict v;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "sleep 10", 1, 200);
	int64_t t0 = now_ms();

	T_ASSERT(r);
	T_ASSERT(run1(r, "", 0, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "timeout"));
	T_CHECK(v.elapsed_ms >= 200);
	T_CHECK(now_ms() - t0 < 1500);
	elog_runner_free(r, 0);

	/* One that ignores TERM is KILLed a second later. */
	r = mk_simple(ELOG_RUNNER_EXEC, "trap '' TERM; sleep 10", 1, 200);
	T_ASSERT(r);
	t0 = now_ms();
	T_ASSERT(run1(r, "", 0, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "timeout"));
	T_CHECK(v.elapsed_ms >= 1100 && now_ms() - t0 < 3000);
	elog_runner_free(r, 0);
}

static void test_exec_env(void)
{
	struct elog_runner_verdict v;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC,
		"test \"$ELOG_X\" = y && test \"$ELOG_T_OVER\" = job && "
		"test \"$ELOG_T_PARENT\" = p && test \"$ELOG_T_TWICE\" = second && "
		"test \"$ELOG_T_EMPTY\" = '' && test \"${ELOG_T_EMPTY+set}\" = set", 1, 5000);
	const char *env[] = {"ELOG_X=y", "ELOG_T_OVER=job", "ELOG_T_TWICE=first",
			     "ELOG_T_EMPTY=", "ELOG_T_TWICE=second"};

	T_ASSERT(r);
	setenv("ELOG_T_OVER", "parent", 1);
	setenv("ELOG_T_PARENT", "p", 1);
	T_ASSERT(run1(r, "", 0, env, 5, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	/* Without the job's entries the same command fails. */
	T_ASSERT(run1(r, "", 0, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_FAIL, "exit 1"));
	unsetenv("ELOG_T_OVER");
	unsetenv("ELOG_T_PARENT");
	elog_runner_free(r, 0);
}

static void test_exec_large_input(void)
{
	struct elog_runner_verdict v;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "test $(wc -c) -eq 1048576", 1, 10000);
	uint8_t *big = malloc(MIB);
	int64_t t0;

	T_ASSERT(r && big);
	memset(big, 'a', MIB);
	T_ASSERT(run1(r, big, MIB, NULL, 0, &v, 10000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	T_ASSERT(run1(r, big, MIB - 1, NULL, 0, &v, 10000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_FAIL, "exit 1"));
	elog_runner_free(r, 0);

	/* A child that never reads its stdin: the rest is dropped, no hang. */
	r = mk_simple(ELOG_RUNNER_EXEC, "exit 0", 1, 10000);
	T_ASSERT(r);
	t0 = now_ms();
	T_ASSERT(run1(r, big, MIB, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	T_CHECK(now_ms() - t0 < 5000);
	elog_runner_free(r, 0);
	/* One that reads a little, closes stdin and goes on. */
	r = mk_simple(ELOG_RUNNER_EXEC, "head -c 10 >/dev/null; exec 0<&-; sleep 0.1; exit 4", 1,
		      10000);
	T_ASSERT(r);
	T_ASSERT(run1(r, big, MIB, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_FAIL, "exit 4"));
	elog_runner_free(r, 0);
	free(big);
}

static void test_exec_stderr_tail(void)
{
	struct elog_runner_verdict v;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC,
		"i=0; while [ $i -lt 50 ]; do printf '%099d\\n' $i >&2; i=$((i + 1)); done; exit 3",
		1, 10000);
	char want[5001];

	T_ASSERT(r);
	for (int i = 0; i < 50; i++)
		snprintf(want + 100 * i, 101, "%099d\n", i);
	T_ASSERT(run1(r, "", 0, NULL, 0, &v, 10000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_FAIL, "exit 3"));
	T_EQ_INT(v.stderr_len, ELOG_RUNNER_STDERR_TAIL);
	T_CHECK(memcmp(v.stderr_tail, want + 5000 - 1024, 1024) == 0);
	elog_runner_free(r, 0);
}

/* Not quiet: stderr is copied to fd 2 as well as kept. */
static void test_exec_stderr_copied(void)
{
	struct elog_runner_verdict v;
	struct elog_runner_config cfg;
	struct elog_runner *r;
	int p[2], saved;
	char got[256];
	ssize_t n;

	elog_runner_config_init(&cfg);
	cfg.command = "echo hello-stderr >&2";
	r = elog_runner_new(&cfg, NULL);
	T_ASSERT(r);
	T_ASSERT(pipe(p) == 0);
	fflush(stderr);
	saved = dup(2);
	dup2(p[1], 2);
	close(p[1]);
	int rc = run1(r, "", 0, NULL, 0, &v, 5000);
	dup2(saved, 2);
	close(saved);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	n = read(p[0], got, sizeof(got) - 1);
	close(p[0]);
	T_ASSERT(rc == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	T_CHECK(n == 13 && memcmp(got, "hello-stderr\n", 13) == 0);
	T_CHECK(v.stderr_len == 13 && memcmp(v.stderr_tail, "hello-stderr\n", 13) == 0);
	elog_runner_free(r, 0);
}

/* What the command leaves behind (holding its stderr) does not hold up its
 * verdict: the exit is seen on its own. */
static void test_exec_background(void)
{
	struct elog_runner_verdict v;
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "sleep 2 & echo bye >&2; exit 5", 1,
					  10000);
	int64_t t0 = now_ms();

	T_ASSERT(r);
	T_ASSERT(run1(r, "", 0, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_FAIL, "exit 5"));
	T_CHECK(v.stderr_len == 4 && memcmp(v.stderr_tail, "bye\n", 4) == 0);
	T_CHECK(now_ms() - t0 < 1500);
	elog_runner_free(r, 0);
}

static void test_exec_concurrent(void)
{
	struct elog_runner_verdict v[4];
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "sleep 0.3", 4, 10000);
	struct elog_runner_job job = {9, NULL, 0, NULL, 0};
	struct elog_err err;
	int64_t t0 = now_ms();

	T_ASSERT(r);
	for (int i = 0; i < 4; i++)
		T_ASSERT(start(r, (uint64_t)i, "", 0, NULL, 0) == 0);
	/* All four run at once: no slot is left, a fifth is refused. */
	T_CHECK(elog_runner_free_slots(r) == 0);
	T_CHECK(elog_runner_running(r) == 4);
	T_CHECK(elog_runner_start(r, &job, &err) < 0 && err.code == ELOG_E_LIMIT);
	T_ASSERT(collect(r, v, 4, 5000) == 4);
	for (int i = 0; i < 4; i++)
		T_CHECK(is(&v[i], ELOG_VERDICT_OK, ""));
	printf("# 4 x sleep 0.3 on 4 slots: %lld ms\n", (long long)(now_ms() - t0));
	elog_runner_free(r, 0);
}

/* The caller polls the runner's fds itself, then elog_runner_poll(r, 0). */
static void test_exec_callers_poll(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "cat >/dev/null; exit 75", 2, 5000);
	struct elog_runner_verdict v[2];
	struct pollfd fds[16];
	struct elog_err err;
	uint8_t *big = calloc(1, 300000);
	int64_t end = now_ms() + 5000;
	size_t got = 0;

	T_ASSERT(r && big);
	T_ASSERT(start(r, 1, big, 300000, NULL, 0) == 0);
	T_ASSERT(start(r, 2, "x", 1, NULL, 0) == 0);
	while (got < 2 && now_ms() < end) {
		size_t n = elog_runner_pollfds(r, fds, 16);
		int wait = elog_runner_timeout_ms(r);
		T_ASSERT(n > 0 && n <= 6);
		poll(fds, n, wait < 0 || wait > 100 ? 100 : wait);
		int k = elog_runner_poll(r, 0, v + got, 2 - got, &err);
		T_ASSERT(k >= 0);
		got += (size_t)k;
	}
	T_ASSERT(got == 2);
	T_CHECK(is(&v[0], ELOG_VERDICT_RETRY, "exit 75") && is(&v[1], ELOG_VERDICT_RETRY, "exit 75"));
	T_CHECK(elog_runner_pollfds(r, fds, 16) == 0 && elog_runner_timeout_ms(r) == -1);
	/* Nothing runs: a poll returns at once. */
	T_CHECK(elog_runner_poll(r, -1, v, 2, &err) == 0);
	elog_runner_free(r, 0);
	free(big);
}

/* ------------------------------------------------------------ coproc */

#define READ_LOOP "while read -r l; do echo ok; done"

static void test_coproc_pipelined(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC, READ_LOOP, 1024, 10000);
	struct elog_runner_verdict *v = calloc(1000, sizeof(*v));
	char line[32];

	T_ASSERT(r && v);
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(line, sizeof(line), "record %d\n", i);
		T_ASSERT(start(r, (uint64_t)i, line, (size_t)n, NULL, 0) == 0);
	}
	T_CHECK(elog_runner_running(r) == 1000 && elog_runner_free_slots(r) == 24);
	T_ASSERT(collect(r, v, 1000, 20000) == 1000);
	for (int i = 0; i < 1000; i++) {
		T_EQ_INT(v[i].tag, i);
		T_ASSERT(v[i].kind == ELOG_VERDICT_OK && v[i].verdict[0] == '\0');
	}
	T_CHECK(elog_runner_running(r) == 0 && elog_runner_free_slots(r) == 1024);
	elog_runner_free(r, 1000);
	free(v);
}

static void test_coproc_answers(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC,
		"while read -r l; do case $l in "
		"ok) echo ok;; r1) echo 'retry why';; f1) echo 'fail why';; "
		"r0) echo retry;; f0) echo fail;; long) printf 'retry %02000d\\n' 0;; "
		"max) printf 'retry %065530d\\n' 0;; "
		"err) echo 'to stderr' >&2; echo ok;; esac; done", 8, 10000);
	const char *in[] = {"ok\n", "r1\n", "f1\n", "r0\n", "f0\n", "long\n", "max\n"};
	struct elog_runner_verdict v[7];
	char want[1100];

	T_ASSERT(r);
	for (int i = 0; i < 7; i++)
		T_ASSERT(start(r, (uint64_t)i, in[i], strlen(in[i]), NULL, 0) == 0);
	T_ASSERT(collect(r, v, 7, 10000) == 7);
	for (int i = 0; i < 7; i++)
		T_EQ_INT(v[i].tag, i);
	T_CHECK(is(&v[0], ELOG_VERDICT_OK, ""));
	T_CHECK(is(&v[1], ELOG_VERDICT_RETRY, "retry: why"));
	T_CHECK(is(&v[2], ELOG_VERDICT_FAIL, "fail: why"));
	T_CHECK(is(&v[3], ELOG_VERDICT_RETRY, "retry"));
	T_CHECK(is(&v[4], ELOG_VERDICT_FAIL, "fail"));
	/* REASON is kept to 1 KiB; a line of exactly ELOG_RUNNER_LINE_MAX is an answer. */
	memcpy(want, "retry: ", 7);
	memset(want + 7, '0', ELOG_RUNNER_REASON_MAX);
	want[7 + ELOG_RUNNER_REASON_MAX] = '\0';
	T_CHECK(is(&v[5], ELOG_VERDICT_RETRY, want));
	T_CHECK(is(&v[6], ELOG_VERDICT_RETRY, want));
	/* What it writes to stderr while a job is the oldest is that job's tail. */
	T_ASSERT(run1(r, "err\n", 4, NULL, 0, v, 5000) == 0);
	T_CHECK(is(v, ELOG_VERDICT_OK, ""));
	T_CHECK(v->stderr_len == 10 && memcmp(v->stderr_tail, "to stderr\n", 10) == 0);
	elog_runner_free(r, 1000);
}

/* Collect n verdicts and check tags 0.. in order with ok for the first
 * oks and the retry `why` for the rest. */
static int check_run(struct elog_runner *r, int n, int oks, const char *why)
{
	struct elog_runner_verdict v[16];
	int good = 1;

	if (collect(r, v, (size_t)n, 8000) != (size_t)n)
		return 0;
	for (int i = 0; i < n; i++)
		good &= v[i].tag == (uint64_t)i &&
			(i < oks ? is(&v[i], ELOG_VERDICT_OK, "") : is(&v[i], ELOG_VERDICT_RETRY, why));
	return good;
}

static void test_coproc_exits(void)
{
	struct elog_runner_config cfg;
	struct elog_runner *r;
	struct elog_runner_verdict v;
	struct elog_err err;
	const char *dir = t_tmpdir();
	char command[8192];
	int64_t t0, end;

	elog_runner_config_init(&cfg);
	cfg.restart_backoff_min_ms = 300;
	cfg.restart_backoff_max_ms = 1000;
	/* The first one reads six lines, answers three and exits 7; the ones
	 * started after it answer everything. */
	snprintf(command, sizeof(command),
		 "if [ -e %s/once ]; then " READ_LOOP "; exit; fi; touch %s/once; "
		 "read -r a; read -r b; read -r c; read -r d; read -r e; read -r f; "
		 "echo ok; echo ok; echo ok; exit 7", dir, dir);
	r = mk(&cfg, ELOG_RUNNER_COPROC, command, 8, 10000);
	T_ASSERT(r);
	for (int i = 0; i < 6; i++)
		T_ASSERT(start(r, (uint64_t)i, "x\n", 2, NULL, 0) == 0);
	T_ASSERT(check_run(r, 6, 3, "coproc: exited 7"));
	/* The backoff: no slot, and a wake-up when it ends. */
	t0 = now_ms();
	T_CHECK(elog_runner_free_slots(r) == 0);
	T_CHECK(elog_runner_timeout_ms(r) > 0 && elog_runner_timeout_ms(r) <= 300);
	end = t0 + 3000;
	while (elog_runner_free_slots(r) == 0 && now_ms() < end)
		T_ASSERT(elog_runner_poll(r, 1000, &v, 1, &err) == 0);
	T_ASSERT(elog_runner_free_slots(r) == 8);
	printf("# coproc restart after a %lld ms wait (backoff 300 ms)\n",
	       (long long)(now_ms() - t0));
	/* Started again at the next job. */
	T_ASSERT(run1(r, "y\n", 2, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	elog_runner_free(r, 1000);
}

static int wait_restartable(struct elog_runner *r)
{
	struct elog_runner_verdict v;
	int64_t end = now_ms() + 3000;

	while (elog_runner_free_slots(r) == 0 && now_ms() < end)
		if (elog_runner_poll(r, 1000, &v, 1, NULL) != 0)
			return 0;
	return elog_runner_free_slots(r) > 0;
}

/* The backoff doubles from min to max, and an "ok" resets it. */
static void test_coproc_backoff(void)
{
	struct elog_runner_config cfg;
	struct elog_runner *r;
	struct elog_runner_verdict v;
	int t[4];

	elog_runner_config_init(&cfg);
	cfg.restart_backoff_min_ms = 100;
	cfg.restart_backoff_max_ms = 250;
	r = mk(&cfg, ELOG_RUNNER_COPROC,
	       "read -r l; [ \"$l\" = ok ] || exit 5; echo ok; read -r l; exit 5", 4, 10000);
	T_ASSERT(r);
	for (int i = 0; i < 3; i++) {
		T_ASSERT(run1(r, "x\n", 2, NULL, 0, &v, 5000) == 0);
		T_CHECK(is(&v, ELOG_VERDICT_RETRY, "coproc: exited 5"));
		t[i] = elog_runner_timeout_ms(r);
		T_ASSERT(wait_restartable(r));
	}
	T_CHECK(t[0] > 0 && t[0] <= 100);
	T_CHECK(t[1] > 100 && t[1] <= 200);
	T_CHECK(t[2] > 150 && t[2] <= 250);
	T_ASSERT(run1(r, "ok\n", 3, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	T_ASSERT(run1(r, "x\n", 2, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "coproc: exited 5"));
	t[3] = elog_runner_timeout_ms(r);
	T_CHECK(t[3] > 0 && t[3] <= 100);
	elog_runner_free(r, 1000);
}

#define READ3 "read -r a; read -r b; read -r c; "

static void test_coproc_failures(void)
{
	static const struct {
		const char *command, *why;
	} cases[] = {
		{"while read -r l; do echo what; done", "coproc: bad answer"},
		{"while read -r l; do echo 'ok '; done", "coproc: bad answer"},
		{"while read -r l; do echo retryx; done", "coproc: bad answer"},
		{"while read -r l; do head -c 70000 /dev/zero | tr '\\0' a; echo; done",
		 "coproc: bad answer"},
		{"while read -r l; do head -c 70000 /dev/zero | tr '\\0' a; sleep 5; done",
		 "coproc: bad answer"},
		/* These read all three lines first: a start never meets a dead one. */
		{READ3 "exec >&-; sleep 5", "coproc: closed its stdout"},
		{READ3 "kill -9 $$", "coproc: killed by SIGKILL"},
		{READ3 "exit 0", "coproc: exited 0"},
		{READ3 "echo ok; exec 2>&-; exit 3", "coproc: exited 3"},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC, cases[c].command, 4, 10000);
		int64_t t0 = now_ms();

		T_ASSERT(r);
		for (int i = 0; i < 3; i++)
			T_ASSERT(start(r, (uint64_t)i, "x\n", 2, NULL, 0) == 0);
		if (!check_run(r, 3, strstr(cases[c].command, "echo ok;") ? 1 : 0, cases[c].why))
			t_fail(__FILE__, __LINE__, cases[c].command);
		T_CHECK(now_ms() - t0 < 3000);
		elog_runner_free(r, 1000);
	}
}

/* Lines larger than a pipe holds are written on by poll, in order. */
static void test_coproc_large_lines(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC,
		"perl -ne 'BEGIN { $| = 1 } print length($_) == 1048576 ? \"ok\\n\" : \"fail\\n\"'",
		4, 10000);
	uint8_t *big = malloc(MIB);

	T_ASSERT(r && big);
	memset(big, 'v', MIB - 1);
	big[MIB - 1] = '\n';
	T_ASSERT(start(r, 0, big, MIB, NULL, 0) == 0);
	T_ASSERT(start(r, 1, "short\n", 6, NULL, 0) == 0);
	T_ASSERT(start(r, 2, big, MIB, NULL, 0) == 0);
	memset(big, 'w', MIB - 1);  /* copied at start: the caller's buffer is free again */
	struct elog_runner_verdict v[3];
	T_ASSERT(collect(r, v, 3, 10000) == 3);
	T_CHECK(v[0].tag == 0 && is(&v[0], ELOG_VERDICT_OK, ""));
	T_CHECK(v[1].tag == 1 && is(&v[1], ELOG_VERDICT_FAIL, "fail"));
	T_CHECK(v[2].tag == 2 && is(&v[2], ELOG_VERDICT_OK, ""));
	elog_runner_free(r, 1000);
	free(big);
}

/* One that closes its stdin: the next line meets EPIPE, and is retried. */
static void test_coproc_closes_stdin(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC,
					  "read -r l; exec <&-; echo ok; sleep 10", 4, 10000);
	struct elog_runner_verdict v;
	int64_t t0;

	T_ASSERT(r);
	T_ASSERT(run1(r, "x\n", 2, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	t0 = now_ms();
	T_ASSERT(run1(r, "y\n", 2, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_RETRY, "coproc: closed its stdin"));
	T_CHECK(now_ms() - t0 < 1500);
	elog_runner_free(r, 1000);
}

/* A line when no job is in flight is a bad answer too. */
static void test_coproc_unsolicited(void)
{
	struct elog_runner_config cfg;
	struct elog_runner *r;
	struct elog_runner_verdict v;
	int64_t end;

	elog_runner_config_init(&cfg);
	cfg.restart_backoff_min_ms = 5000;
	cfg.restart_backoff_max_ms = 5000;
	r = mk(&cfg, ELOG_RUNNER_COPROC, "while read -r l; do echo ok; echo ok; done", 4, 10000);
	T_ASSERT(r);
	T_ASSERT(run1(r, "x\n", 2, NULL, 0, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	end = now_ms() + 3000;
	while (elog_runner_free_slots(r) > 0 && now_ms() < end)
		T_ASSERT(elog_runner_poll(r, 100, &v, 1, NULL) == 0);
	T_CHECK(elog_runner_free_slots(r) == 0 && elog_runner_running(r) == 0);
	elog_runner_free(r, 1000);
}

static void test_coproc_timeout(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC, "while read -r l; do :; done", 4,
					  200);
	int64_t t0 = now_ms();

	T_ASSERT(r);
	for (int i = 0; i < 3; i++)
		T_ASSERT(start(r, (uint64_t)i, "x\n", 2, NULL, 0) == 0);
	T_CHECK(check_run(r, 3, 0, "timeout"));
	T_CHECK(now_ms() - t0 < 1500);
	elog_runner_free(r, 0);

	/* Deaf to TERM (and to the EOF on its stdin): KILLed a second later. */
	r = mk_simple(ELOG_RUNNER_COPROC, "trap '' TERM; while read -r l; do :; done; sleep 10", 4, 200);
	T_ASSERT(r);
	t0 = now_ms();
	T_ASSERT(start(r, 0, "x\n", 2, NULL, 0) == 0);
	T_CHECK(check_run(r, 1, 0, "timeout"));
	T_CHECK(now_ms() - t0 >= 1100 && now_ms() - t0 < 3000);
	elog_runner_free(r, 0);
}

/* ------------------------------------------------------------ limits */

static int start_fails(struct elog_runner *r, const void *input, size_t len,
		       const char *const *env, size_t env_count, enum elog_errcode code)
{
	struct elog_runner_job job = {1, input, len, env, env_count};
	struct elog_err err;

	if (elog_runner_start(r, &job, &err) == 0)
		return 0;
	if (err.code != code)
		fprintf(stderr, "# code %d, wanted %d: %s\n", (int)err.code, (int)code, err.msg);
	return err.code == code;
}

static void test_limits(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "exit 0", 1, 5000);
	uint8_t *huge = malloc(ELOG_RUNNER_INPUT_MAX + 1);
	const size_t entry = ELOG_RUNNER_ENV_ENTRY_MAX - 1;  /* with its NUL: the limit */
	char *big = malloc(entry + 2), *big2 = malloc(entry + 1);
	const char *env[ELOG_RUNNER_ENV_MAX + 1], *bigenv[3], *bad1[] = {"NOEQUALS"},
		   *bad2[] = {"=x"};
	struct elog_runner_verdict v;

	T_ASSERT(r && huge && big && big2);
	for (int i = 0; i <= ELOG_RUNNER_ENV_MAX; i++)
		env[i] = "A=1";
	memset(big, 'b', entry + 1);
	memcpy(big, "B=", 2);
	big[entry + 1] = '\0';  /* one byte too long */
	memset(big2, 'c', entry);
	memcpy(big2, "C=", 2);
	big2[entry] = '\0';
	bigenv[0] = big;
	T_CHECK(start_fails(r, huge, ELOG_RUNNER_INPUT_MAX + 1, NULL, 0, ELOG_E_LIMIT));
	T_CHECK(start_fails(r, "", 0, env, ELOG_RUNNER_ENV_MAX + 1, ELOG_E_LIMIT));
	T_CHECK(start_fails(r, "", 0, bigenv, 1, ELOG_E_LIMIT));
	bigenv[0] = bigenv[1] = bigenv[2] = big2;  /* each fine, over 256 KiB in all */
	T_CHECK(start_fails(r, "", 0, bigenv, 3, ELOG_E_LIMIT));
	T_CHECK(start_fails(r, "", 0, bad1, 1, ELOG_E_INVAL));
	T_CHECK(start_fails(r, "", 0, bad2, 1, ELOG_E_INVAL));
	T_CHECK(elog_runner_running(r) == 0);
	/* At the limits it runs. */
	T_ASSERT(run1(r, "", 0, env, ELOG_RUNNER_ENV_MAX, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	T_ASSERT(run1(r, "", 0, bigenv, 2, &v, 5000) == 0);
	T_CHECK(is(&v, ELOG_VERDICT_OK, ""));
	elog_runner_free(r, 0);

	r = mk_simple(ELOG_RUNNER_COPROC, READ_LOOP, 1, 5000);
	T_ASSERT(r);
	T_CHECK(start_fails(r, "x", 1, NULL, 0, ELOG_E_INVAL));
	T_CHECK(start_fails(r, "a\nb\n", 4, NULL, 0, ELOG_E_INVAL));
	T_CHECK(start_fails(r, "", 0, NULL, 0, ELOG_E_INVAL));
	T_CHECK(start_fails(r, huge, ELOG_RUNNER_INPUT_MAX + 1, NULL, 0, ELOG_E_LIMIT));
	T_ASSERT(start(r, 0, "x\n", 2, NULL, 0) == 0);
	T_CHECK(start_fails(r, "x\n", 2, NULL, 0, ELOG_E_LIMIT));  /* no free slot */
	T_CHECK(check_run(r, 1, 1, ""));
	elog_runner_free(r, 0);
	free(huge);
	free(big);
	free(big2);
}

static void test_config(void)
{
	struct elog_runner_config cfg;
	struct elog_err err;
	struct sigaction ign, old;

	elog_runner_config_init(&cfg);
	T_CHECK(cfg.mode == ELOG_RUNNER_EXEC && cfg.slots == 1 && cfg.timeout_ms == 30000);
	T_CHECK(cfg.retry_status[75] && !cfg.retry_status[1]);
	T_CHECK(!elog_runner_new(&cfg, &err) && err.code == ELOG_E_INVAL);  /* no command */
	cfg.command = "true";
	cfg.slots = 0;
	T_CHECK(!elog_runner_new(&cfg, &err) && err.code == ELOG_E_INVAL);
	cfg.slots = ELOG_RUNNER_SLOTS_MAX + 1;
	T_CHECK(!elog_runner_new(&cfg, &err) && err.code == ELOG_E_INVAL);
	cfg.slots = 1;
	cfg.restart_backoff_max_ms = 10;
	T_CHECK(!elog_runner_new(&cfg, &err) && err.code == ELOG_E_INVAL);
	cfg.restart_backoff_max_ms = 10000;
	/* SIGPIPE must be ignored by the caller. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &ign, &old);
	T_CHECK(!elog_runner_new(&cfg, &err) && err.code == ELOG_E_INVAL);
	sigaction(SIGPIPE, &old, NULL);
	struct elog_runner *r = elog_runner_new(&cfg, &err);
	T_CHECK(r);
	elog_runner_free(r, 0);
	elog_runner_free(NULL, 0);
}

/* free kills what runs: TERM, then KILL after the grace. */
static void test_free(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "sleep 10", 3, 0);
	int64_t t0;

	T_ASSERT(r);
	for (int i = 0; i < 3; i++)
		T_ASSERT(start(r, (uint64_t)i, "", 0, NULL, 0) == 0);
	t0 = now_ms();
	elog_runner_free(r, 5000);
	T_CHECK(now_ms() - t0 < 2000);

	/* Deaf to TERM once it answered (its trap is set by then). */
	r = mk_simple(ELOG_RUNNER_COPROC,
		      "trap '' TERM; while read -r l; do echo ok; done; sleep 10", 2, 0);
	T_ASSERT(r);
	T_ASSERT(start(r, 0, "x\n", 2, NULL, 0) == 0);
	T_ASSERT(check_run(r, 1, 1, ""));
	T_ASSERT(start(r, 1, "x\n", 2, NULL, 0) == 0);
	t0 = now_ms();
	elog_runner_free(r, 200);
	T_CHECK(now_ms() - t0 >= 200 && now_ms() - t0 < 2000);
}

/* ------------------------------------------------------------ throughput */

static void test_throughput_exec(void)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_EXEC, "/bin/true", 2, 10000);
	struct elog_runner_verdict v[2];
	int64_t t0 = now_ms(), t1;
	uint64_t started = 0, done = 0, bad = 0;

	T_ASSERT(r);
	while ((t1 = now_ms()) - t0 < 2000 || done < started) {
		while (t1 - t0 < 2000 && elog_runner_free_slots(r) > 0) {
			T_ASSERT(start(r, started, "", 0, NULL, 0) == 0);
			started++;
		}
		int n = elog_runner_poll(r, 100, v, 2, NULL);
		T_ASSERT(n >= 0);
		for (int i = 0; i < n; i++)
			bad += v[i].kind != ELOG_VERDICT_OK;
		done += (uint64_t)n;
		T_ASSERT(t1 - t0 < 10000);
	}
	T_CHECK(bad == 0 && done > 0);
	printf("# exec /bin/true, 2 slots: %.0f jobs/s (%llu in %lld ms)\n",
	       (double)done * 1000.0 / (double)(t1 - t0), (unsigned long long)done,
	       (long long)(t1 - t0));
	elog_runner_free(r, 0);
}

static void coproc_rate(const char *command, int ms)
{
	struct elog_runner *r = mk_simple(ELOG_RUNNER_COPROC, command, 1024, 10000);
	struct elog_runner_verdict *v = calloc(1024, sizeof(*v));
	int64_t t0 = now_ms(), t1;
	uint64_t started = 0, done = 0, bad = 0;

	T_ASSERT(r && v);
	while ((t1 = now_ms()) - t0 < ms || done < started) {
		while (t1 - t0 < ms && elog_runner_free_slots(r) > 0) {
			T_ASSERT(start(r, started, "{\"value\":\"x\"}\n", 14, NULL, 0) == 0);
			started++;
		}
		int n = elog_runner_poll(r, 100, v, 1024, NULL);
		T_ASSERT(n >= 0);
		for (int i = 0; i < n; i++)
			bad += v[i].kind != ELOG_VERDICT_OK || v[i].tag != done + (uint64_t)i;
		done += (uint64_t)n;
		T_ASSERT(t1 - t0 < ms + 10000);
	}
	T_CHECK(bad == 0 && done > 0);
	printf("# coproc `%s`, 1024 slots: %.0f records/s (%llu in %lld ms)\n", command,
	       (double)done * 1000.0 / (double)(t1 - t0), (unsigned long long)done,
	       (long long)(t1 - t0));
	elog_runner_free(r, 1000);
	free(v);
}

static void test_throughput_coproc(void)
{
	/* perl reads what a pipe holds; sed -u and the shell read a byte per
	 * read(2). (mawk without -W interactive waits for a full 4 KiB block
	 * before it answers: a co-process it cannot be.) */
	const char *cmd = getenv("T_COPROC");
	if (cmd) {
		coproc_rate(cmd, 2000);
		return;
	}
	coproc_rate("perl -pe 'BEGIN { $| = 1 } $_ = \"ok\\n\"'", 2000);
	coproc_rate("sed -u 's/.*/ok/'", 1000);
	coproc_rate(READ_LOOP, 1000);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);  /* as elog-consume does */
	T_RUN(test_exec_statuses);
	T_RUN(test_exec_signals);
	T_RUN(test_exec_timeout);
	T_RUN(test_exec_env);
	T_RUN(test_exec_large_input);
	T_RUN(test_exec_stderr_tail);
	T_RUN(test_exec_stderr_copied);
	T_RUN(test_exec_background);
	T_RUN(test_exec_concurrent);
	T_RUN(test_exec_callers_poll);
	T_RUN(test_coproc_pipelined);
	T_RUN(test_coproc_answers);
	T_RUN(test_coproc_exits);
	T_RUN(test_coproc_backoff);
	T_RUN(test_coproc_failures);
	T_RUN(test_coproc_unsolicited);
	T_RUN(test_coproc_large_lines);
	T_RUN(test_coproc_closes_stdin);
	T_RUN(test_coproc_timeout);
	T_RUN(test_limits);
	T_RUN(test_config);
	T_RUN(test_free);
	/* Figures, not checks: `make bench` (bench/process) asks for them. */
	if (getenv("T_RUNNER_THROUGHPUT")) {
		T_RUN(test_throughput_exec);
		T_RUN(test_throughput_coproc);
	}
	return t_finish();
}
