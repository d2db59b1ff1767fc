/* runner — runs a command for records and turns what it did into verdicts; see runner.h. */
#include "runner.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* TERM, then KILL this much later (docs/processing.md). */
#define RUNNER_KILL_GRACE_MS 1000
/* One read from a child's pipe. */
#define RUNNER_READ_CHUNK 65536
/* Reads of one pipe per poll round, so that one chatty child cannot starve the rest. */
#define RUNNER_READS_PER_ROUND 4
/* What is read from a reaped child's stderr before it is closed: bounded,
 * since a grandchild may still hold it open and keep writing. */
#define RUNNER_DRAIN_BYTES_MAX (1u << 20)
/* Without a pidfd a child is looked at with waitpid on a timer: 1 ms after
 * it starts or closes its output, doubling to this. */
#define RUNNER_CHECK_MAX_MS 100

enum { WHAT_IN, WHAT_OUT, WHAT_ERR, WHAT_PID };

struct runner_child {
	pid_t pid;              /* 0: none, or reaped */
	int pidfd;              /* -1: none; then waitpid runs on check_at_ms */
	int in_fd, out_fd, err_fd;  /* the runner's ends; -1 once closed */
	int term_sent, kill_sent;  /* by the runner: how it ended is then ours */
	int status;             /* once reaped; -1 when it could not be known */
	int64_t kill_at_ms;     /* SIGKILL due (0: none) */
	int64_t check_at_ms;
	uint32_t check_every_ms;
};

enum slot_state { SLOT_FREE, SLOT_RUNNING, SLOT_DONE };

/* An --exec job: one child, its verdict kept here until it is handed out. */
struct runner_slot {
	enum slot_state state;
	struct runner_child child;
	uint8_t *input;         /* what did not fit the pipe at start (owned) */
	size_t input_len, input_off;
	int64_t start_ms;
	int64_t deadline_ms;    /* 0: no timeout */
	int timed_out;
	struct elog_runner_verdict v;
};

struct coproc_job {
	int64_t start_ms;
	struct elog_runner_verdict v;
};

/* Why the co-process is being killed; the first reason found is kept. */
enum coproc_cause {
	CAUSE_NONE,
	CAUSE_BAD_ANSWER,
	CAUSE_TIMEOUT,
	CAUSE_STDOUT_CLOSED,
	CAUSE_STDIN_CLOSED,
};

/*
 * The --coproc state. jobs is a ring of `slots` entries from head: the
 * first `done` have their verdict (answers come in order, and a failure
 * answers all), the rest are in flight. A job keeps its entry until its
 * verdict is handed out, which bounds everything by `slots`.
 */
struct runner_coproc {
	struct runner_child child;  /* pid 0: not running */
	int dying;                  /* killed, not reaped yet */
	enum coproc_cause cause;
	uint8_t *wq;                /* bytes for its stdin, from wq_off */
	size_t wq_off, wq_len, wq_cap;
	char *line;                 /* a partial answer line, ELOG_RUNNER_LINE_MAX + 1 bytes */
	size_t line_len;
	struct coproc_job *jobs;
	uint32_t head, count, done;
	int64_t oldest_since_ms;    /* when the oldest in flight became the oldest */
	uint32_t failures;          /* since the last "ok": the backoff's exponent */
	int64_t backoff_until_ms;
};

struct elog_runner {
	struct elog_runner_config cfg;
	char *command;
	int no_pidfd;               /* pidfd_open is not there: waitpid on timers */
	/* exec */
	struct runner_slot *slots;
	uint32_t *free_stack, free_count;
	uint32_t *done_ring, done_head, done_count;
	/* coproc */
	struct runner_coproc co;
	/* elog_runner_poll's own poll set: the slot and the pipe of each fd */
	struct pollfd *pfd;
	uint32_t *pfd_slot;
	uint8_t *pfd_what;
	size_t pfd_cap;
	uint8_t *scratch;           /* RUNNER_READ_CHUNK */
};

static int64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fd_close(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static uint32_t elapsed_ms(int64_t since, int64_t now)
{
	return now > since ? (uint32_t)(now - since) : 0;
}

/* The last ELOG_RUNNER_STDERR_TAIL bytes of everything added. */
static void tail_add(struct elog_runner_verdict *v, const uint8_t *p, size_t n)
{
	const size_t cap = sizeof(v->stderr_tail);
	size_t keep;

	assert(v->stderr_len <= cap);
	if (n >= cap) {
		memcpy(v->stderr_tail, p + n - cap, cap);
		v->stderr_len = cap;
		return;
	}
	keep = v->stderr_len < cap - n ? v->stderr_len : cap - n;
	memmove(v->stderr_tail, v->stderr_tail + v->stderr_len - keep, keep);
	memcpy(v->stderr_tail + keep, p, n);
	v->stderr_len = keep + n;
}

/* The caller's stderr is its own, maybe blocking: a diagnostic copy may
 * wait for it like any diagnostic; if it is non-blocking and full, or
 * fails, the copy is dropped (the tail is kept regardless). */
static void stderr_copy(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(2, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Write what the pipe takes now: bytes written, or -1 with errno when
 * nothing could be written for a reason other than a full pipe. */
static ssize_t write_some(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

static void signal_name(int sig, char *out, size_t size)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(out, size, "SIG%s", abbrev);
	else
		snprintf(out, size, "%d", sig);  /* real-time signals have no name */
}

/* ------------------------------------------------------------ children */

/* Pipe ends are kept at 3 and above: the child's ends are dup2'ed onto
 * 0..2, and one that was itself 0..2 (the caller closed its stdin) would be
 * clobbered by another's dup2. */
static int fd_above_stdio(int fd)
{
	int moved, saved;

	if (fd > 2)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	saved = errno;
	close(fd);
	errno = saved;
	return moved;
}

/* Both ends O_CLOEXEC (so that no other child inherits them); the runner's
 * end non-blocking, the child's end as a program expects it (blocking). */
static int pipe_open(int fds[2], int runner_end, struct elog_err *err)
{
	int e;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		fds[0] = fds[1] = -1;
		return elog_err_errno(err, ELOG_E_IO, errno, "cannot create a pipe");
	}
	fds[0] = fd_above_stdio(fds[0]);
	e = errno;
	fds[1] = fd_above_stdio(fds[1]);
	if (fds[1] < 0)
		e = errno;
	if (fds[0] >= 0 && fds[1] >= 0 && fcntl(fds[runner_end], F_SETFL, O_NONBLOCK) == 0)
		return 0;
	if (fds[0] >= 0 && fds[1] >= 0)
		e = errno;
	fd_close(&fds[0]);
	fd_close(&fds[1]);
	return elog_err_errno(err, ELOG_E_IO, e, "cannot set up a pipe");
}

/* A pidfd tells when the child exits (its pipes may outlive it, held by a
 * grandchild, and closing them comes before the exit is visible to
 * waitpid). Without one, waitpid runs on a timer. */
static int pidfd_get(struct elog_runner *r, pid_t pid)
{
#ifdef SYS_pidfd_open
	if (!r->no_pidfd) {
		int fd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (fd >= 0)
			return fd;  /* always O_CLOEXEC */
		if (errno == ENOSYS || errno == EPERM)
			r->no_pidfd = 1;
	}
#else
	(void)pid;
	r->no_pidfd = 1;
#endif
	return -1;
}

static void child_check_soon(struct runner_child *ch, int64_t now)
{
	ch->check_every_ms = 0;
	ch->check_at_ms = now;
}

static void child_check_later(struct runner_child *ch, int64_t now)
{
	ch->check_every_ms = ch->check_every_ms ? ch->check_every_ms * 2 : 1;
	if (ch->check_every_ms > RUNNER_CHECK_MAX_MS)
		ch->check_every_ms = RUNNER_CHECK_MAX_MS;
	ch->check_at_ms = now + ch->check_every_ms;
}

static int spawn_actions(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at,
			 const int in[2], const int out[2], const int errp[2])
{
	sigset_t none, dfl;
	int e;

	sigemptyset(&none);
	/* Ignored signals survive exec: the caller ignores SIGPIPE, the command
	 * should not (`yes | head` must end). */
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGXFSZ);
	e = posix_spawn_file_actions_adddup2(fa, in[0], 0);
	if (!e && out[1] >= 0)
		e = posix_spawn_file_actions_adddup2(fa, out[1], 1);
	if (!e)
		e = posix_spawn_file_actions_adddup2(fa, errp[1], 2);
	/* Its own process group: a timeout kills what the command started too. */
	if (!e)
		e = posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						 POSIX_SPAWN_SETSIGDEF);
	if (!e)
		e = posix_spawnattr_setpgroup(at, 0);
	if (!e)
		e = posix_spawnattr_setsigmask(at, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(at, &dfl);
	return e;
}

/*
 * Start /bin/sh -c command with pipes on its stdin and stderr (and stdout
 * when with_stdout; else it inherits the caller's). posix_spawn, because
 * glibc's shares the parent's memory until the exec (vfork-like), which
 * is what --exec /bin/true's rate is bound by.
 */
static int child_spawn(struct elog_runner *r, struct runner_child *ch, int with_stdout,
		       char *const envp[], struct elog_err *err)
{
	static char arg0[] = "sh", arg1[] = "-c";
	char *argv[] = {arg0, arg1, r->command, NULL};
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	int e, rc = -1;

	if (pipe_open(in, 1, err) < 0 || (with_stdout && pipe_open(out, 0, err) < 0) ||
	    pipe_open(errp, 0, err) < 0)
		goto out;
	e = posix_spawn_file_actions_init(&fa);
	if (e) {
		elog_err_errno(err, ELOG_E_NOMEM, e, "cannot start /bin/sh");
		goto out;
	}
	e = posix_spawnattr_init(&at);
	if (!e) {
		e = spawn_actions(&fa, &at, in, out, errp);
		if (!e)
			e = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, envp);
		posix_spawnattr_destroy(&at);
	}
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		/* E2BIG: the caller's environment and the job's passed the kernel's
		 * ARG_MAX; trying again will not help. */
		elog_err_errno(err, e == E2BIG ? ELOG_E_LIMIT : ELOG_E_IO, e, "cannot start /bin/sh");
		goto out;
	}
	memset(ch, 0, sizeof(*ch));
	ch->pid = pid;
	ch->pidfd = pidfd_get(r, pid);
	ch->in_fd = in[1];
	ch->out_fd = out[0];
	ch->err_fd = errp[0];
	in[1] = out[0] = errp[0] = -1;
	ch->status = -1;
	ch->check_at_ms = clock_ms();
	child_check_later(ch, ch->check_at_ms);
	rc = 0;
out:
	fd_close(&in[0]);
	fd_close(&in[1]);
	fd_close(&out[0]);
	fd_close(&out[1]);
	fd_close(&errp[0]);
	fd_close(&errp[1]);
	return rc;
}

/* Signals go to its process group, which it leads; that id cannot be
 * taken by another while the leader is not reaped (pid != 0). */
static void child_signal(struct runner_child *ch, int sig)
{
	if (ch->pid <= 0)
		return;
	if (kill(-ch->pid, sig) < 0)
		kill(ch->pid, sig);
	if (sig == SIGTERM)
		ch->term_sent = 1;
	if (sig == SIGKILL)
		ch->kill_sent = 1;
}

static void child_kill(struct runner_child *ch, int64_t now)
{
	if (ch->term_sent)
		return;
	child_signal(ch, SIGTERM);
	ch->kill_at_ms = now + RUNNER_KILL_GRACE_MS;
}

/* 1 once reaped (status in ch->status), 0 while it runs. ECHILD (the
 * caller set SIGCHLD to SIG_IGN: the kernel reaped it) is reaped with an
 * unknown status (-1). */
static int child_reap(struct runner_child *ch)
{
	pid_t got;
	int status = 0;

	assert(ch->pid > 0);
	got = waitpid(ch->pid, &status, WNOHANG);
	if (got == 0)
		return 0;
	ch->status = got > 0 ? status : -1;
	ch->pid = 0;
	ch->kill_at_ms = 0;
	fd_close(&ch->pidfd);
	return 1;
}

static void child_close(struct runner_child *ch)
{
	fd_close(&ch->in_fd);
	fd_close(&ch->out_fd);
	fd_close(&ch->err_fd);
	fd_close(&ch->pidfd);
}

/*
 * Read what *fd holds now, at most `rounds` chunks: each copied to fd 2
 * unless quiet, and to tail when there is one. Closes *fd at EOF or error
 * and returns 1 then, else 0.
 */
static int err_read(struct elog_runner *r, int *fd, struct elog_runner_verdict *tail,
		    unsigned rounds)
{
	while (rounds-- > 0) {
		ssize_t n = read(*fd, r->scratch, RUNNER_READ_CHUNK);
		if (n < 0 && errno == EINTR) {
			rounds++;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			fd_close(fd);
			return 1;
		}
		if (!r->cfg.quiet)
			stderr_copy(r->scratch, (size_t)n);
		if (tail)
			tail_add(tail, r->scratch, (size_t)n);
	}
	return 0;
}

/* The earliest of next and this child's own timers. */
static int64_t child_next(const struct runner_child *ch, int64_t next)
{
	if (ch->pid <= 0)
		return next;
	if (ch->kill_at_ms && (next < 0 || ch->kill_at_ms < next))
		next = ch->kill_at_ms;
	if (ch->pidfd < 0 && (next < 0 || ch->check_at_ms < next))
		next = ch->check_at_ms;
	return next;
}

/* KILL after TERM's grace; without a pidfd, waitpid on schedule. 1 if it
 * was reaped here. */
static int child_timers(struct runner_child *ch, int64_t now)
{
	if (ch->pid <= 0)
		return 0;
	if (ch->kill_at_ms && now >= ch->kill_at_ms) {
		child_signal(ch, SIGKILL);
		ch->kill_at_ms = 0;
		if (ch->pidfd < 0)
			child_check_soon(ch, now);
	}
	if (ch->pidfd < 0 && now >= ch->check_at_ms) {
		if (child_reap(ch))
			return 1;
		child_check_later(ch, now);
	}
	return 0;
}

/* ------------------------------------------------------------ limits */

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int same_name(const char *a, size_t a_len, const char *b)
{
	return env_name_len(b) == a_len && memcmp(a, b, a_len) == 0;
}

static int job_check(const struct elog_runner *r, const struct elog_runner_job *job,
		     struct elog_err *err)
{
	size_t bytes = 0;

	if (!job || (!job->input && job->input_len))
		return elog_err_set(err, ELOG_E_INVAL, "runner: job without its input");
	if (job->input_len > ELOG_RUNNER_INPUT_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "runner: input of %zu bytes is over the "
				    "limit of %u", job->input_len, ELOG_RUNNER_INPUT_MAX);
	if (r->cfg.mode == ELOG_RUNNER_COPROC) {
		/* One line: a '\n' inside would answer a job that was never sent. */
		if (job->input_len == 0 || job->input[job->input_len - 1] != '\n' ||
		    memchr(job->input, '\n', job->input_len - 1))
			return elog_err_set(err, ELOG_E_INVAL, "runner: a coproc input must be "
					    "one line ending in a newline");
		return 0;
	}
	if (job->env_count > ELOG_RUNNER_ENV_MAX)
		return elog_err_set(err, ELOG_E_LIMIT, "runner: %zu environment variables are over "
				    "the limit of %d", job->env_count, ELOG_RUNNER_ENV_MAX);
	if (job->env_count && !job->env)
		return elog_err_set(err, ELOG_E_INVAL, "runner: environment list missing");
	for (size_t i = 0; i < job->env_count; i++) {
		const char *e = job->env[i];
		size_t len;

		if (!e)
			return elog_err_set(err, ELOG_E_INVAL, "runner: environment entry %zu is "
					    "missing", i);
		len = strnlen(e, ELOG_RUNNER_ENV_BYTES_MAX + 1);
		if (len + 1 > ELOG_RUNNER_ENV_ENTRY_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "runner: environment entry %zu is over "
					    "the limit of %u bytes", i, ELOG_RUNNER_ENV_ENTRY_MAX - 1);
		bytes += len + 1;
		if (bytes > ELOG_RUNNER_ENV_BYTES_MAX)
			return elog_err_set(err, ELOG_E_LIMIT, "runner: environment is over the "
					    "limit of %u bytes", ELOG_RUNNER_ENV_BYTES_MAX);
		if (!strchr(e, '=') || e[0] == '=')
			return elog_err_set(err, ELOG_E_INVAL, "runner: environment entry %zu is "
					    "not NAME=VALUE", i);
	}
	return 0;
}

/* The caller's environment with the job's entries on top: a job entry
 * replaces a variable of the same name, and the last of a repeated job
 * name wins. NULL when out of memory. */
static char **env_build(const struct elog_runner_job *job)
{
	size_t parent = 0, n = 0;
	char **envp;

	while (environ && environ[parent])
		parent++;
	envp = malloc((parent + job->env_count + 1) * sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < parent; i++) {
		size_t len = env_name_len(environ[i]);
		size_t j = 0;

		while (j < job->env_count && !same_name(environ[i], len, job->env[j]))
			j++;
		if (j == job->env_count)
			envp[n++] = environ[i];
	}
	for (size_t i = 0; i < job->env_count; i++) {
		size_t len = env_name_len(job->env[i]);
		size_t j = i + 1;

		while (j < job->env_count && !same_name(job->env[i], len, job->env[j]))
			j++;
		if (j == job->env_count)
			envp[n++] = (char *)job->env[i];
	}
	envp[n] = NULL;
	return envp;
}

/* ------------------------------------------------------------ exec */

static void exec_verdict(const struct elog_runner *r, struct runner_slot *s, int status)
{
	struct elog_runner_verdict *v = &s->v;
	char name[32];

	if (s->timed_out) {
		v->kind = ELOG_VERDICT_RETRY;
		snprintf(v->verdict, sizeof(v->verdict), "timeout");
	} else if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) > 128 &&
		   WEXITSTATUS(status) - 128 < NSIG && !r->cfg.retry_status[WEXITSTATUS(status)] &&
		   WEXITSTATUS(status) != 255) {
		/* The shell's word for a command a signal killed (128 + N):
		 * killed, as far as the record is concerned. */
		signal_name(WEXITSTATUS(status) - 128, name, sizeof(name));
		v->kind = ELOG_VERDICT_RETRY;
		snprintf(v->verdict, sizeof(v->verdict), "signal %s", name);
	} else if (status >= 0 && WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		v->kind = code == 0 ? ELOG_VERDICT_OK
			: r->cfg.retry_status[code] ? ELOG_VERDICT_RETRY : ELOG_VERDICT_FAIL;
		if (code)
			snprintf(v->verdict, sizeof(v->verdict), "exit %d", code);
	} else if (status >= 0 && WIFSIGNALED(status)) {
		signal_name(WTERMSIG(status), name, sizeof(name));
		v->kind = ELOG_VERDICT_RETRY;
		snprintf(v->verdict, sizeof(v->verdict), "signal %s", name);
	} else {
		/* Reaped by someone else: what it did is not known, so try again. */
		v->kind = ELOG_VERDICT_RETRY;
		snprintf(v->verdict, sizeof(v->verdict), "exit unknown");
	}
}

/* The child is reaped: take what its stderr still holds, give the verdict. */
static void exec_finish(struct elog_runner *r, uint32_t idx, int64_t now)
{
	struct runner_slot *s = &r->slots[idx];

	assert(s->state == SLOT_RUNNING && s->child.pid == 0);
	if (s->child.err_fd >= 0)
		err_read(r, &s->child.err_fd, &s->v, RUNNER_DRAIN_BYTES_MAX / RUNNER_READ_CHUNK);
	child_close(&s->child);
	free(s->input);
	s->input = NULL;
	exec_verdict(r, s, s->child.status);
	s->v.elapsed_ms = elapsed_ms(s->start_ms, now);
	s->state = SLOT_DONE;
	assert(r->done_count < r->cfg.slots);
	r->done_ring[(r->done_head + r->done_count++) % r->cfg.slots] = idx;
}

/* Feed its stdin; a child that stops reading (EPIPE) drops the rest. */
static void exec_write(struct runner_slot *s)
{
	ssize_t w = write_some(s->child.in_fd, s->input + s->input_off,
			       s->input_len - s->input_off);

	if (w > 0)
		s->input_off += (size_t)w;
	if (w < 0 || s->input_off == s->input_len) {
		fd_close(&s->child.in_fd);
		free(s->input);
		s->input = NULL;
		s->input_len = s->input_off = 0;
	}
}

static int exec_start(struct elog_runner *r, const struct elog_runner_job *job,
		      struct elog_err *err)
{
	struct runner_slot *s;
	char **envp;
	uint32_t idx;
	ssize_t w;
	int rc;

	assert(r->free_count > 0);
	envp = env_build(job);
	if (!envp)
		return elog_err_set(err, ELOG_E_NOMEM, "runner: out of memory for an environment");
	idx = r->free_stack[r->free_count - 1];
	s = &r->slots[idx];
	assert(s->state == SLOT_FREE);
	rc = child_spawn(r, &s->child, 0, envp, err);
	free(envp);
	if (rc < 0)
		return -1;
	r->free_count--;
	s->state = SLOT_RUNNING;
	s->start_ms = clock_ms();
	s->deadline_ms = r->cfg.timeout_ms ? s->start_ms + r->cfg.timeout_ms : 0;
	s->timed_out = 0;
	memset(&s->v, 0, offsetof(struct elog_runner_verdict, stderr_tail));
	s->v.stderr_len = 0;
	s->v.tag = job->tag;
	/* Most inputs fit the pipe now; only a remainder is copied. */
	w = job->input_len ? write_some(s->child.in_fd, job->input, job->input_len) : 0;
	if (w < 0 || (size_t)w == job->input_len) {
		fd_close(&s->child.in_fd);
		return 0;
	}
	s->input_len = job->input_len - (size_t)w;
	s->input_off = 0;
	s->input = malloc(s->input_len);
	if (!s->input) {
		/* Started with a cut input: it must not run on. */
		child_signal(&s->child, SIGKILL);
		while (waitpid(s->child.pid, NULL, 0) < 0 && errno == EINTR)
			;
		child_close(&s->child);
		s->child.pid = 0;
		s->input_len = 0;
		s->state = SLOT_FREE;
		r->free_stack[r->free_count++] = idx;
		return elog_err_set(err, ELOG_E_NOMEM, "runner: out of memory for a %zu-byte input",
				    job->input_len);
	}
	memcpy(s->input, job->input + w, s->input_len);
	return 0;
}

static void exec_event(struct elog_runner *r, uint32_t idx, int what, int fd, int64_t now)
{
	struct runner_slot *s = &r->slots[idx];
	struct runner_child *ch = &s->child;

	if (s->state != SLOT_RUNNING)
		return;
	if (what == WHAT_IN && fd == ch->in_fd) {
		exec_write(s);
	} else if (what == WHAT_ERR && fd == ch->err_fd) {
		if (err_read(r, &ch->err_fd, &s->v, RUNNER_READS_PER_ROUND) && ch->pidfd < 0)
			child_check_soon(ch, now);
	} else if (what == WHAT_PID && fd == ch->pidfd && ch->pid > 0) {
		if (child_reap(ch)) {
			exec_finish(r, idx, now);
		} else {
			/* Readable yet not exited: never spin on it. */
			fd_close(&ch->pidfd);
			child_check_soon(ch, now);
		}
	}
}

static void exec_timers(struct elog_runner *r, int64_t now)
{
	for (uint32_t i = 0; i < r->cfg.slots; i++) {
		struct runner_slot *s = &r->slots[i];

		if (s->state != SLOT_RUNNING)
			continue;
		if (s->deadline_ms && now >= s->deadline_ms && !s->timed_out) {
			s->timed_out = 1;
			child_kill(&s->child, now);
		}
		if (child_timers(&s->child, now))
			exec_finish(r, i, now);
	}
}

static int64_t exec_next(const struct elog_runner *r, int64_t next)
{
	for (uint32_t i = 0; i < r->cfg.slots; i++) {
		const struct runner_slot *s = &r->slots[i];

		if (s->state != SLOT_RUNNING)
			continue;
		if (s->deadline_ms && !s->timed_out && (next < 0 || s->deadline_ms < next))
			next = s->deadline_ms;
		next = child_next(&s->child, next);
	}
	return next;
}

/* ------------------------------------------------------------ coproc */

static uint32_t co_inflight(const struct runner_coproc *co)
{
	return co->count - co->done;
}

static struct coproc_job *co_oldest(struct elog_runner *r)
{
	struct runner_coproc *co = &r->co;

	if (!co_inflight(co))
		return NULL;
	return &co->jobs[(co->head + co->done) % r->cfg.slots];
}

/* The oldest in flight gets its verdict; the next becomes the oldest. */
static void co_answered(struct elog_runner *r, enum elog_verdict_kind kind, const char *what,
			const char *reason, size_t reason_len, int64_t now)
{
	struct runner_coproc *co = &r->co;
	struct coproc_job *job = co_oldest(r);
	struct elog_runner_verdict *v = &job->v;

	v->kind = kind;
	if (!what)
		v->verdict[0] = '\0';
	else if (!reason)
		snprintf(v->verdict, sizeof(v->verdict), "%s", what);
	else
		snprintf(v->verdict, sizeof(v->verdict), "%s: %.*s", what, (int)reason_len, reason);
	v->elapsed_ms = elapsed_ms(job->start_ms, now);
	co->done++;
	co->oldest_since_ms = now;
}

/* REASON is kept to ELOG_RUNNER_REASON_MAX bytes, cut before a UTF-8
 * character rather than through it. */
static size_t reason_cut(const char *s, size_t len)
{
	size_t n = ELOG_RUNNER_REASON_MAX;

	if (len <= n)
		return len;
	for (int i = 0; i < 3 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
		n--;
	return n;
}

static void co_fail(struct elog_runner *r, enum coproc_cause cause, int64_t now);

/* One answer line (without its '\n'). */
static void co_line(struct elog_runner *r, const char *p, size_t len, int64_t now)
{
	enum elog_verdict_kind kind;
	const char *what;
	size_t word;

	if (!co_inflight(&r->co)) {
		co_fail(r, CAUSE_BAD_ANSWER, now);  /* an answer to nothing */
		return;
	}
	if (len == 2 && memcmp(p, "ok", 2) == 0) {
		r->co.failures = 0;
		co_answered(r, ELOG_VERDICT_OK, NULL, NULL, 0, now);
		return;
	}
	if (len >= 5 && memcmp(p, "retry", 5) == 0) {
		kind = ELOG_VERDICT_RETRY, what = "retry", word = 5;
	} else if (len >= 4 && memcmp(p, "fail", 4) == 0) {
		kind = ELOG_VERDICT_FAIL, what = "fail", word = 4;
	} else {
		co_fail(r, CAUSE_BAD_ANSWER, now);
		return;
	}
	if (len == word) {
		co_answered(r, kind, what, NULL, 0, now);
	} else if (p[word] == ' ') {
		p += word + 1;
		len -= word + 1;
		co_answered(r, kind, what, p, reason_cut(p, len), now);
	} else {
		co_fail(r, CAUSE_BAD_ANSWER, now);
	}
}

/* Answers count unless it is being killed for not keeping to the protocol. */
static int co_accepting(const struct runner_coproc *co)
{
	return !co->dying || co->cause == CAUSE_STDOUT_CLOSED || co->cause == CAUSE_STDIN_CLOSED;
}

/* Read its stdout: each whole line answers the oldest in flight. */
static void co_read(struct elog_runner *r, unsigned rounds, int64_t now)
{
	struct runner_coproc *co = &r->co;
	const size_t cap = ELOG_RUNNER_LINE_MAX + 1;

	while (rounds-- > 0 && co->child.out_fd >= 0) {
		size_t start = 0;
		char *nl;
		ssize_t n = read(co->child.out_fd, co->line + co->line_len, cap - co->line_len);

		if (n < 0 && errno == EINTR) {
			rounds++;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			fd_close(&co->child.out_fd);
			co_fail(r, CAUSE_STDOUT_CLOSED, now);
			if (co->child.pidfd < 0)
				child_check_soon(&co->child, now);
			return;
		}
		co->line_len += (size_t)n;
		while (co_accepting(co) &&
		       (nl = memchr(co->line + start, '\n', co->line_len - start))) {
			co_line(r, co->line + start, (size_t)(nl - (co->line + start)), now);
			start = (size_t)(nl - co->line) + 1;
		}
		if (!co_accepting(co))
			start = co->line_len;  /* what follows a bad answer is not read as answers */
		memmove(co->line, co->line + start, co->line_len - start);
		co->line_len -= start;
		if (co->line_len == cap) {
			co_fail(r, CAUSE_BAD_ANSWER, now);  /* longer than ELOG_RUNNER_LINE_MAX */
			co->line_len = 0;
		}
	}
}

static void co_write(struct elog_runner *r, int64_t now)
{
	struct runner_coproc *co = &r->co;
	ssize_t w;

	if (co->child.in_fd < 0 || co->wq_off == co->wq_len)
		return;
	w = write_some(co->child.in_fd, co->wq + co->wq_off, co->wq_len - co->wq_off);
	if (w < 0) {
		co_fail(r, CAUSE_STDIN_CLOSED, now);
		return;
	}
	co->wq_off += (size_t)w;
	if (co->wq_off == co->wq_len)
		co->wq_off = co->wq_len = 0;
}

static void co_fail(struct elog_runner *r, enum coproc_cause cause, int64_t now)
{
	struct runner_coproc *co = &r->co;

	/* Also while a reaped one's last output is read (pid 0): the cause
	 * still stops the answers and names the failure. */
	if (co->dying)
		return;
	co->dying = 1;
	co->cause = cause;
	fd_close(&co->child.in_fd);
	co->wq_off = co->wq_len = 0;
	if (co->child.pid > 0)
		child_kill(&co->child, now);
}

static const char *cause_text(enum coproc_cause cause)
{
	switch (cause) {
	case CAUSE_BAD_ANSWER: return "coproc: bad answer";
	case CAUSE_TIMEOUT: return "timeout";
	case CAUSE_STDOUT_CLOSED: return "coproc: closed its stdout";
	case CAUSE_STDIN_CLOSED: return "coproc: closed its stdin";
	case CAUSE_NONE: break;
	}
	return "coproc: exited";
}

/* Why the jobs in flight did not get their answer. A protocol fault is
 * named as such; else how it ended, unless it ended by our own signals. */
static void co_why(const struct runner_coproc *co, char *out, size_t size)
{
	int status = co->child.status;
	char name[32];

	if (co->cause == CAUSE_BAD_ANSWER || co->cause == CAUSE_TIMEOUT) {
		snprintf(out, size, "%s", cause_text(co->cause));
	} else if (status >= 0 && WIFEXITED(status)) {
		snprintf(out, size, "coproc: exited %d", WEXITSTATUS(status));
	} else if (status >= 0 && WIFSIGNALED(status) &&
		   !(co->child.term_sent && WTERMSIG(status) == SIGTERM) &&
		   !(co->child.kill_sent && WTERMSIG(status) == SIGKILL)) {
		signal_name(WTERMSIG(status), name, sizeof(name));
		snprintf(out, size, "coproc: killed by %s", name);
	} else {
		snprintf(out, size, "%s", cause_text(co->cause));
	}
}

/* It is reaped: take its last answers, retry everything still in flight,
 * and wait out the backoff before it is started again. */
static void co_reaped(struct elog_runner *r, int64_t now)
{
	struct runner_coproc *co = &r->co;
	char why[64];
	uint64_t backoff;

	assert(co->child.pid == 0);
	if (co->child.err_fd >= 0)
		err_read(r, &co->child.err_fd, co_oldest(r) ? &co_oldest(r)->v : NULL,
			 RUNNER_DRAIN_BYTES_MAX / RUNNER_READ_CHUNK);
	if (co->child.out_fd >= 0)
		co_read(r, RUNNER_DRAIN_BYTES_MAX / RUNNER_READ_CHUNK, now);
	co_why(co, why, sizeof(why));
	while (co_inflight(co))
		co_answered(r, ELOG_VERDICT_RETRY, why, NULL, 0, now);
	child_close(&co->child);
	co->dying = 0;
	co->cause = CAUSE_NONE;
	co->line_len = 0;
	co->wq_off = co->wq_len = 0;
	backoff = r->cfg.restart_backoff_min_ms;
	for (uint32_t i = 0; i < co->failures && backoff < r->cfg.restart_backoff_max_ms; i++)
		backoff *= 2;
	if (backoff > r->cfg.restart_backoff_max_ms)
		backoff = r->cfg.restart_backoff_max_ms;
	if (co->failures < 32)
		co->failures++;
	co->backoff_until_ms = now + (int64_t)backoff;
}


/* Its pidfd is readable: it exited. What it started goes too, signalled
 * while the leader is a zombie (WNOWAIT) and so its group id still safe. */
static void co_exited(struct elog_runner *r, int64_t now)
{
	struct runner_child *ch = &r->co.child;
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (!ch->term_sent && waitid(P_PID, (id_t)ch->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    info.si_pid == ch->pid)
		kill(-ch->pid, SIGTERM);
	if (child_reap(ch)) {
		co_reaped(r, now);
		return;
	}
	/* Readable yet not exited: never spin on it. */
	fd_close(&ch->pidfd);
	child_check_soon(ch, now);
}

static void co_event(struct elog_runner *r, int what, int fd, int64_t now)
{
	struct runner_child *ch = &r->co.child;

	if (ch->pid <= 0)
		return;
	if (what == WHAT_IN && fd == ch->in_fd) {
		co_write(r, now);
	} else if (what == WHAT_ERR && fd == ch->err_fd) {
		struct coproc_job *oldest = co_oldest(r);
		err_read(r, &ch->err_fd, oldest ? &oldest->v : NULL, RUNNER_READS_PER_ROUND);
	} else if (what == WHAT_OUT && fd == ch->out_fd) {
		co_read(r, RUNNER_READS_PER_ROUND, now);
	} else if (what == WHAT_PID && fd == ch->pidfd) {
		co_exited(r, now);
	}
}

static void co_timers(struct elog_runner *r, int64_t now)
{
	struct runner_coproc *co = &r->co;

	if (co->child.pid <= 0)
		return;
	if (!co->dying && r->cfg.timeout_ms && co_inflight(co) &&
	    now >= co->oldest_since_ms + r->cfg.timeout_ms)
		co_fail(r, CAUSE_TIMEOUT, now);
	if (child_timers(&co->child, now))
		co_reaped(r, now);
}

static int64_t co_next(const struct elog_runner *r, int64_t now, int64_t next)
{
	const struct runner_coproc *co = &r->co;

	if (co->child.pid <= 0) {
		/* When the backoff ends free slots appear: worth a wake-up. */
		if (co->backoff_until_ms > now && (next < 0 || co->backoff_until_ms < next))
			next = co->backoff_until_ms;
		return next;
	}
	if (!co->dying && r->cfg.timeout_ms && co_inflight(co)) {
		int64_t at = co->oldest_since_ms + r->cfg.timeout_ms;
		if (next < 0 || at < next)
			next = at;
	}
	return child_next(&co->child, next);
}

/* Room for n more bytes behind wq_len, before anything of a line is
 * written (a line half sent and half dropped would answer the wrong job). */
static int co_reserve(struct runner_coproc *co, size_t n, struct elog_err *err)
{
	size_t pending = co->wq_len - co->wq_off, cap;
	uint8_t *wq;

	if (co->wq_off > 0 && co->wq_cap - co->wq_len < n) {
		memmove(co->wq, co->wq + co->wq_off, pending);
		co->wq_off = 0;
		co->wq_len = pending;
	}
	if (co->wq_cap - co->wq_len >= n)
		return 0;
	cap = co->wq_cap ? co->wq_cap : 4096;
	while (cap - co->wq_len < n)
		cap *= 2;
	wq = realloc(co->wq, cap);
	if (!wq)
		return elog_err_set(err, ELOG_E_NOMEM, "runner: out of memory for a %zu-byte "
				    "input queue", cap);
	co->wq = wq;
	co->wq_cap = cap;
	return 0;
}

static int co_start(struct elog_runner *r, const struct elog_runner_job *job,
		    struct elog_err *err)
{
	struct runner_coproc *co = &r->co;
	struct coproc_job *cj;
	int64_t now = clock_ms();

	assert(!co->dying && co->count < r->cfg.slots);
	if (co_reserve(co, job->input_len, err) < 0)
		return -1;
	if (co->child.pid <= 0) {
		if (child_spawn(r, &co->child, 1, environ, err) < 0)
			return -1;
		co->line_len = 0;
	}
	cj = &co->jobs[(co->head + co->count) % r->cfg.slots];
	cj->start_ms = now;
	memset(&cj->v, 0, offsetof(struct elog_runner_verdict, stderr_tail));
	cj->v.stderr_len = 0;
	cj->v.tag = job->tag;
	if (!co_inflight(co))
		co->oldest_since_ms = now;
	co->count++;
	/* Written by the next poll: the lines of many starts go in one write
	 * (and the co-process reads them in one). */
	memcpy(co->wq + co->wq_len, job->input, job->input_len);
	co->wq_len += job->input_len;
	return 0;
}

/* ------------------------------------------------------------ the runner */

void elog_runner_config_init(struct elog_runner_config *cfg)
{
	assert(cfg);
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = ELOG_RUNNER_EXEC;
	cfg->slots = 1;
	cfg->timeout_ms = 30000;
	cfg->retry_status[75] = 1;  /* EX_TEMPFAIL */
	cfg->restart_backoff_min_ms = 100;
	cfg->restart_backoff_max_ms = 10000;
}

static int config_check(const struct elog_runner_config *cfg, struct elog_err *err)
{
	struct sigaction sa;
	sigset_t mask;

	if (!cfg || !cfg->command || !cfg->command[0])
		return elog_err_set(err, ELOG_E_INVAL, "runner: no command");
	if (cfg->mode != ELOG_RUNNER_EXEC && cfg->mode != ELOG_RUNNER_COPROC)
		return elog_err_set(err, ELOG_E_INVAL, "runner: unknown mode %d", (int)cfg->mode);
	if (cfg->slots < 1 || cfg->slots > ELOG_RUNNER_SLOTS_MAX)
		return elog_err_set(err, ELOG_E_INVAL, "runner: %u slots is not in 1..%d",
				    cfg->slots, ELOG_RUNNER_SLOTS_MAX);
	if (cfg->restart_backoff_max_ms < cfg->restart_backoff_min_ms)
		return elog_err_set(err, ELOG_E_INVAL, "runner: restart backoff maximum %u ms is "
				    "below its minimum %u ms", cfg->restart_backoff_max_ms,
				    cfg->restart_backoff_min_ms);
	/* A command that stops reading its input would kill the caller. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
	    !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL && !sigismember(&mask, SIGPIPE))
		return elog_err_set(err, ELOG_E_INVAL, "runner: SIGPIPE must be ignored or handled");
	return 0;
}

static int runner_alloc(struct elog_runner *r, const char *command, struct elog_err *err)
{
	uint32_t slots = r->cfg.slots;

	r->pfd_cap = r->cfg.mode == ELOG_RUNNER_EXEC ? 3 * (size_t)slots : 4;
	r->pfd = calloc(r->pfd_cap, sizeof(*r->pfd));
	r->pfd_slot = calloc(r->pfd_cap, sizeof(*r->pfd_slot));
	r->pfd_what = calloc(r->pfd_cap, sizeof(*r->pfd_what));
	r->scratch = malloc(RUNNER_READ_CHUNK);
	r->command = strdup(command);
	if (!r->pfd || !r->pfd_slot || !r->pfd_what || !r->scratch || !r->command)
		goto nomem;
	if (r->cfg.mode == ELOG_RUNNER_COPROC) {
		r->co.jobs = calloc(slots, sizeof(*r->co.jobs));
		r->co.line = malloc(ELOG_RUNNER_LINE_MAX + 1);
		if (!r->co.jobs || !r->co.line)
			goto nomem;
		return 0;
	}
	r->slots = calloc(slots, sizeof(*r->slots));
	r->free_stack = calloc(slots, sizeof(*r->free_stack));
	r->done_ring = calloc(slots, sizeof(*r->done_ring));
	if (!r->slots || !r->free_stack || !r->done_ring)
		goto nomem;
	/* Slot 0 first: the low slots stay warm. */
	for (uint32_t i = 0; i < slots; i++)
		r->free_stack[i] = slots - 1 - i;
	r->free_count = slots;
	return 0;
nomem:
	return elog_err_set(err, ELOG_E_NOMEM, "runner: out of memory for %u slots", slots);
}

struct elog_runner *elog_runner_new(const struct elog_runner_config *cfg, struct elog_err *err)
{
	struct elog_runner *r;

	if (config_check(cfg, err) < 0)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		elog_err_set(err, ELOG_E_NOMEM, "runner: out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	r->cfg.command = NULL;  /* r->command is the copy */
	r->co.child.in_fd = r->co.child.out_fd = r->co.child.err_fd = r->co.child.pidfd = -1;
	if (runner_alloc(r, cfg->command, err) < 0) {
		elog_runner_free(r, 0);
		return NULL;
	}
	return r;
}

uint32_t elog_runner_free_slots(const struct elog_runner *r)
{
	const struct runner_coproc *co = &r->co;

	if (r->cfg.mode == ELOG_RUNNER_EXEC)
		return r->free_count;
	if (co->dying || (co->child.pid <= 0 && clock_ms() < co->backoff_until_ms))
		return 0;
	return r->cfg.slots - co->count;
}

uint32_t elog_runner_running(const struct elog_runner *r)
{
	if (r->cfg.mode == ELOG_RUNNER_EXEC)
		return r->cfg.slots - r->free_count;
	return r->co.count;
}

int elog_runner_start(struct elog_runner *r, const struct elog_runner_job *job,
		      struct elog_err *err)
{
	assert(r);
	if (job_check(r, job, err) < 0)
		return -1;
	if (elog_runner_free_slots(r) == 0)
		return elog_err_set(err, ELOG_E_LIMIT, "runner: no free slot");
	if (r->cfg.mode == ELOG_RUNNER_EXEC)
		return exec_start(r, job, err);
	return co_start(r, job, err);
}

static size_t fill_one(struct pollfd *fds, uint32_t *slot_of, uint8_t *what_of, size_t n,
		       size_t max, int fd, short events, uint32_t slot, int what)
{
	if (fd < 0 || n >= max)
		return n;
	fds[n].fd = fd;
	fds[n].events = events;
	fds[n].revents = 0;
	if (slot_of) {
		slot_of[n] = slot;
		what_of[n] = (uint8_t)what;
	}
	return n + 1;
}

/* Stderr before stdout: bytes a co-process wrote to stderr before its
 * answer are that job's. */
static size_t runner_fill(const struct elog_runner *r, struct pollfd *fds, uint32_t *slot_of,
			  uint8_t *what_of, size_t max)
{
	const struct runner_child *ch = &r->co.child;
	size_t n = 0;

	if (r->cfg.mode == ELOG_RUNNER_COPROC) {
		if (ch->pid <= 0)
			return 0;
		if (r->co.wq_off < r->co.wq_len)
			n = fill_one(fds, slot_of, what_of, n, max, ch->in_fd, POLLOUT, 0, WHAT_IN);
		n = fill_one(fds, slot_of, what_of, n, max, ch->err_fd, POLLIN, 0, WHAT_ERR);
		n = fill_one(fds, slot_of, what_of, n, max, ch->out_fd, POLLIN, 0, WHAT_OUT);
		return fill_one(fds, slot_of, what_of, n, max, ch->pidfd, POLLIN, 0, WHAT_PID);
	}
	for (uint32_t i = 0; i < r->cfg.slots && n < max; i++) {
		if (r->slots[i].state != SLOT_RUNNING)
			continue;
		ch = &r->slots[i].child;
		n = fill_one(fds, slot_of, what_of, n, max, ch->in_fd, POLLOUT, i, WHAT_IN);
		n = fill_one(fds, slot_of, what_of, n, max, ch->err_fd, POLLIN, i, WHAT_ERR);
		n = fill_one(fds, slot_of, what_of, n, max, ch->pidfd, POLLIN, i, WHAT_PID);
	}
	return n;
}

size_t elog_runner_pollfds(const struct elog_runner *r, struct pollfd *fds, size_t max)
{
	assert(r && (fds || max == 0));
	return runner_fill(r, fds, NULL, NULL, max);
}

static int runner_ready(const struct elog_runner *r)
{
	return r->cfg.mode == ELOG_RUNNER_EXEC ? r->done_count > 0 : r->co.done > 0;
}

static int64_t runner_next(const struct elog_runner *r, int64_t now)
{
	return r->cfg.mode == ELOG_RUNNER_EXEC ? exec_next(r, -1) : co_next(r, now, -1);
}

int elog_runner_timeout_ms(const struct elog_runner *r)
{
	int64_t now = clock_ms(), next;

	if (runner_ready(r))
		return 0;
	next = runner_next(r, now);
	if (next < 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void runner_timers(struct elog_runner *r, int64_t now)
{
	if (r->cfg.mode == ELOG_RUNNER_EXEC)
		exec_timers(r, now);
	else
		co_timers(r, now);
}

static int runner_deliver(struct elog_runner *r, struct elog_runner_verdict *out, size_t max)
{
	struct runner_coproc *co = &r->co;
	size_t n = 0;

	if (r->cfg.mode == ELOG_RUNNER_COPROC) {
		for (; n < max && co->done > 0; n++) {
			out[n] = co->jobs[co->head].v;
			co->head = (co->head + 1) % r->cfg.slots;
			co->count--;
			co->done--;
		}
		return (int)n;
	}
	for (; n < max && r->done_count > 0; n++) {
		uint32_t idx = r->done_ring[r->done_head];

		assert(r->slots[idx].state == SLOT_DONE);
		out[n] = r->slots[idx].v;
		r->slots[idx].state = SLOT_FREE;
		r->free_stack[r->free_count++] = idx;
		r->done_head = (r->done_head + 1) % r->cfg.slots;
		r->done_count--;
	}
	return (int)n;
}

static int runner_busy(const struct elog_runner *r)
{
	if (r->cfg.mode == ELOG_RUNNER_EXEC)
		return r->free_count + r->done_count < r->cfg.slots;
	return r->co.child.pid > 0;
}

int elog_runner_poll(struct elog_runner *r, int timeout_ms, struct elog_runner_verdict *out,
		     size_t max, struct elog_err *err)
{
	int64_t start = clock_ms(), now = start;
	int no_slot = elog_runner_free_slots(r) == 0;

	assert(r && (out || max == 0));
	if (r->cfg.mode == ELOG_RUNNER_COPROC)
		co_write(r, now);  /* lines queued by start, even when it returns at once */
	runner_timers(r, now);
	/* Something finished, or a co-process's restart backoff ended. */
	while (!runner_ready(r) && !(no_slot && elog_runner_free_slots(r) > 0)) {
		int64_t next = runner_next(r, now);
		int wait;
		size_t n;

		if (timeout_ms >= 0 && (next < 0 || next > start + timeout_ms))
			next = start + timeout_ms;
		if (next < 0 && !runner_busy(r))
			break;  /* waiting forever for nothing */
		wait = next < 0 ? -1 : next <= now ? 0
			: next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
		if (r->cfg.mode == ELOG_RUNNER_COPROC)
			co_write(r, now);
		n = runner_fill(r, r->pfd, r->pfd_slot, r->pfd_what, r->pfd_cap);
		if (poll(r->pfd, n, wait) < 0) {
			if (errno == EINTR)
				break;  /* the caller's signal first */
			return elog_err_errno(err, ELOG_E_IO, errno, "runner: poll");
		}
		now = clock_ms();
		for (size_t i = 0; i < n; i++) {
			if (!r->pfd[i].revents)
				continue;
			if (r->cfg.mode == ELOG_RUNNER_EXEC)
				exec_event(r, r->pfd_slot[i], r->pfd_what[i], r->pfd[i].fd, now);
			else
				co_event(r, r->pfd_what[i], r->pfd[i].fd, now);
		}
		runner_timers(r, now);
		if (timeout_ms >= 0 && now >= start + timeout_ms)
			break;
	}
	return runner_deliver(r, out, max);
}

/* ------------------------------------------------------------ free */

static struct runner_child *child_at(struct elog_runner *r, uint32_t i)
{
	if (r->cfg.mode == ELOG_RUNNER_COPROC)
		return i == 0 && r->co.child.pid > 0 ? &r->co.child : NULL;
	if (!r->slots || r->slots[i].state != SLOT_RUNNING || r->slots[i].child.pid <= 0)
		return NULL;
	return &r->slots[i].child;
}

/* Wait until deadline for the children to exit (after TERM); 1 if all did. */
static int free_wait(struct elog_runner *r, uint32_t count, int64_t deadline)
{
	for (;;) {
		int64_t now = clock_ms(), left = deadline - now;
		size_t n = 0;
		int some = 0, all_pidfd = 1;

		for (uint32_t i = 0; i < count; i++) {
			struct runner_child *ch = child_at(r, i);
			if (!ch || child_reap(ch))
				continue;
			some = 1;
			if (ch->pidfd < 0)
				all_pidfd = 0;
			else
				n = fill_one(r->pfd, NULL, NULL, n, r->pfd_cap, ch->pidfd, POLLIN, 0, 0);
		}
		if (!some)
			return 1;
		if (left <= 0)
			return 0;
		/* Children without a pidfd are looked at every 10 ms. */
		if (!all_pidfd && left > 10)
			left = 10;
		poll(r->pfd, n, left > INT32_MAX ? INT32_MAX : (int)left);
	}
}

void elog_runner_free(struct elog_runner *r, uint32_t grace_ms)
{
	uint32_t count;

	if (!r)
		return;
	count = r->cfg.mode == ELOG_RUNNER_EXEC ? (r->slots ? r->cfg.slots : 0) : 1;
	for (uint32_t i = 0; i < count; i++) {
		struct runner_child *ch = child_at(r, i);
		if (ch) {
			fd_close(&ch->in_fd);
			child_signal(ch, SIGTERM);
		}
	}
	if (!free_wait(r, count, clock_ms() + grace_ms)) {
		for (uint32_t i = 0; i < count; i++) {
			struct runner_child *ch = child_at(r, i);
			if (!ch)
				continue;
			child_signal(ch, SIGKILL);
			while (waitpid(ch->pid, NULL, 0) < 0 && errno == EINTR)
				;
			ch->pid = 0;
		}
	}
	for (uint32_t i = 0; r->slots && i < r->cfg.slots; i++) {
		if (r->slots[i].state != SLOT_FREE)
			child_close(&r->slots[i].child);
		free(r->slots[i].input);
	}
	child_close(&r->co.child);
	free(r->slots);
	free(r->free_stack);
	free(r->done_ring);
	free(r->co.jobs);
	free(r->co.line);
	free(r->co.wq);
	free(r->pfd);
	free(r->pfd_slot);
	free(r->pfd_what);
	free(r->scratch);
	free(r->command);
	free(r);
}
