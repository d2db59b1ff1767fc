/*
 * runner — runs a command for records and turns what it did into a
 * verdict (docs/processing.md): elog-consume --exec and --coproc.
 *
 * Two modes behind one interface:
 *
 *   exec    every job forks `/bin/sh -c COMMAND` with the job's extra
 *           environment; its stdin gets the job's input then EOF, its
 *           stdout is the runner's caller's stdout (inherited), its stderr
 *           is read (the last ELOG_RUNNER_STDERR_TAIL bytes kept for the
 *           verdict, and every byte copied to fd 2 unless quiet). Up to
 *           `slots` jobs run at once. The verdict: exit 0 ok; an exit
 *           status the retry set names, a signal, or the timeout (TERM,
 *           then KILL one second later) retry; any other status fail.
 *
 *   coproc  `/bin/sh -c COMMAND` is started once (at the first job) and
 *           kept; each job's input is one line (the caller's, ending in
 *           '\n') written to its stdin, and its answers are read from its
 *           stdout, one line per job, in order: "ok", "retry [REASON]",
 *           "fail [REASON]". Up to `slots` jobs are in flight (pipelined).
 *           Its stderr is copied to fd 2 (unless quiet) and the bytes seen
 *           while a job was the oldest in flight are that job's tail.
 *           Another line, EOF on its stdout, its exit, or the timeout (per
 *           answer, counted from when the job became the oldest in flight)
 *           kill it (TERM, then KILL one second later), reap it, and give
 *           every job in flight a retry verdict ("coproc: exited 3",
 *           "coproc: killed by SIGKILL", "coproc: bad answer", "timeout");
 *           it is started again at the next job after a backoff
 *           (restart_backoff_min_ms doubling to _max_ms, reset by an "ok").
 *
 * Nothing blocks: jobs are started with elog_runner_start (when a slot is
 * free), and elog_runner_poll drives pipes, children and timers, returning
 * finished jobs' verdicts. The caller may poll the runner's fds with its
 * own (elog_runner_pollfds) and then call elog_runner_poll(r, 0, ...).
 * Children are reaped with waitpid on their pids (no SIGCHLD handler is
 * needed; a pidfd or the stderr/stdout EOF tells when to look). Every pipe
 * is O_CLOEXEC and non-blocking on the runner's side; SIGPIPE must be
 * ignored by the caller (a child that closes its stdin early is not an
 * error: the rest of the input is dropped); elog_runner_new refuses
 * (ELOG_E_INVAL) while SIGPIPE has its default action and is not blocked.
 *
 * Each child leads a process group of its own, and TERM and KILL go to
 * the group, so that a timeout also ends what the command started. So a
 * terminal's ^C reaches the caller, not the children: the caller ends them
 * with elog_runner_free. The child gets an empty signal mask, and SIGPIPE
 * and SIGXFSZ back at their default actions.
 *
 * Limits: an input of at most ELOG_RUNNER_INPUT_MAX bytes, at most
 * ELOG_RUNNER_ENV_MAX extra variables of ELOG_RUNNER_ENV_BYTES_MAX bytes in
 * all (each "NAME=VALUE" under ELOG_RUNNER_ENV_ENTRY_MAX bytes with its NUL:
 * Linux refuses a longer one to exec), a coproc answer line of at most
 * ELOG_RUNNER_LINE_MAX bytes (a longer one is a bad answer). Each is an error
 * from elog_runner_start (ELOG_E_LIMIT) or a retry verdict, never a crash.
 */
#ifndef ELOG_RUNNER_H
#define ELOG_RUNNER_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ELOG_RUNNER_SLOTS_MAX 1024
#define ELOG_RUNNER_STDERR_TAIL 1024
#define ELOG_RUNNER_REASON_MAX 1024
#define ELOG_RUNNER_INPUT_MAX (64u << 20)
#define ELOG_RUNNER_ENV_MAX 256
#define ELOG_RUNNER_ENV_BYTES_MAX (256u << 10)
#define ELOG_RUNNER_ENV_ENTRY_MAX (128u << 10)  /* Linux's MAX_ARG_STRLEN */
#define ELOG_RUNNER_LINE_MAX (64u << 10)

enum elog_runner_mode { ELOG_RUNNER_EXEC, ELOG_RUNNER_COPROC };

struct elog_runner_config {
	enum elog_runner_mode mode;
	const char *command;            /* run as /bin/sh -c command */
	uint32_t slots;                 /* jobs at once, 1..ELOG_RUNNER_SLOTS_MAX */
	uint32_t timeout_ms;            /* per job (exec) or per answer (coproc); 0: none */
	uint8_t retry_status[256];      /* exec: 1 where exit status N means retry */
	uint32_t restart_backoff_min_ms;  /* coproc restarts; default 100 */
	uint32_t restart_backoff_max_ms;  /* default 10000 */
	int quiet;                      /* do not copy the command's stderr to fd 2 */
};

struct elog_runner_job {
	uint64_t tag;                   /* returned in the verdict */
	const uint8_t *input;           /* exec: the stdin bytes; coproc: one line
	                                   with its '\n' (no other '\n' in it) */
	size_t input_len;
	const char *const *env;         /* exec: "NAME=VALUE" added to the environment;
	                                   ignored by coproc */
	size_t env_count;
};

enum elog_verdict_kind { ELOG_VERDICT_OK, ELOG_VERDICT_RETRY, ELOG_VERDICT_FAIL };

struct elog_runner_verdict {
	uint64_t tag;
	enum elog_verdict_kind kind;
	/* One line for the dead letter's elog.verdict: "exit 3", "signal
	 * SIGKILL", "timeout", "retry: REASON", "fail: REASON", "coproc:
	 * exited 3"; "" for ok. */
	char verdict[ELOG_RUNNER_REASON_MAX + 16];
	char stderr_tail[ELOG_RUNNER_STDERR_TAIL];
	size_t stderr_len;
	uint32_t elapsed_ms;
};

struct elog_runner;

void elog_runner_config_init(struct elog_runner_config *cfg);  /* exec, 1 slot, 30 s, {75} */
struct elog_runner *elog_runner_new(const struct elog_runner_config *cfg, struct elog_err *err);
/* Jobs that may be started now (slots less those running; 0 while a
 * coproc waits out its restart backoff). */
uint32_t elog_runner_free_slots(const struct elog_runner *r);
/* Start a job (copies input and env). -1 with err: no free slot or a limit
 * (ELOG_E_LIMIT), a malformed job (ELOG_E_INVAL), or fork/pipe failing
 * (ELOG_E_IO; the caller may retry later). A coproc's line is written by
 * the next elog_runner_poll. */
int elog_runner_start(struct elog_runner *r, const struct elog_runner_job *job,
		      struct elog_err *err);
/* Drive pipes, children and timers for up to timeout_ms (0: only what is
 * ready; < 0: until something happens), returning early when something
 * finished or a coproc's restart backoff ended (free slots again): writes
 * up to max verdicts into out and returns how many, or -1 with err on a
 * local failure (poll). A signal (EINTR) returns at once. */
int elog_runner_poll(struct elog_runner *r, int timeout_ms, struct elog_runner_verdict *out,
		     size_t max, struct elog_err *err);
/* Its fds to watch (<= max written), and the ms until its next timer (-1:
 * none), for a caller's own poll. */
size_t elog_runner_pollfds(const struct elog_runner *r, struct pollfd *fds, size_t max);
int elog_runner_timeout_ms(const struct elog_runner *r);
/* Jobs started and not yet given a verdict. */
uint32_t elog_runner_running(const struct elog_runner *r);
/* Kill what runs (TERM, KILL after grace_ms), reap it, free everything;
 * running jobs get no verdict. */
void elog_runner_free(struct elog_runner *r, uint32_t grace_ms);

#endif
