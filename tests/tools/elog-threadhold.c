/*
 * elog-threadhold — test-only: stop the threads of a process that carry a
 * name (e.g. a broker's "elog-flusher") while the rest of the process runs
 * on, until this tool gets SIGTERM (or dies: the kernel then lets them go).
 * The durability tests hold a follower's flusher to show that nothing is
 * acknowledged on the strength of written-but-unsynced records.
 *
 *   elog-threadhold PID NAME
 *
 * Each thread is stopped with ptrace (PTRACE_SEIZE, PTRACE_INTERRUPT) only
 * where it sleeps in a futex wait, i.e. holding no lock the others need:
 * caught anywhere else, it is let go and caught again a moment later.
 * Prints "held N" on stdout once all N are held. Exit 0 after SIGTERM, or
 * 1 with a message (no such thread, ptrace refused, or never caught asleep
 * within 10 s).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS_MAX 64
#define TRIES_MAX 10000 /* 1 ms apart */

static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, (int)cap, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The threads of pid named name, into tids; how many. */
static int find_threads(long pid, const char *name, pid_t *tids)
{
	char path[320], comm[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)) && n < THREADS_MAX) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%s/comm", pid, d->d_name);
		if (read_line(path, comm, sizeof(comm)) == 0 && strcmp(comm, name) == 0)
			tids[n++] = (pid_t)atol(d->d_name);
	}
	closedir(dir);
	return n;
}

/* Stop tid where it waits on a futex; 0 once held, -1 on a ptrace error. */
static int hold(long pid, pid_t tid)
{
	struct timespec ms = {0, 1000000};
	char path[64], line[256];
	int status;

	for (int i = 0; i < TRIES_MAX; i++) {
		if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0 ||
		    ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
			return -1;
		if (waitpid(tid, &status, __WALL) < 0)
			return -1;
		snprintf(path, sizeof(path), "/proc/%ld/task/%ld/syscall", pid, (long)tid);
		if (read_line(path, line, sizeof(line)) == 0 && atol(line) == SYS_futex)
			return 0;
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		nanosleep(&ms, NULL);
	}
	errno = EAGAIN;
	return -1;
}

int main(int argc, char **argv)
{
	pid_t tids[THREADS_MAX];
	sigset_t set;
	long pid;
	int n, sig;

	if (argc != 3 || (pid = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: elog-threadhold PID NAME\n");
		return 1;
	}
	/* SIGTERM is taken by sigwait below, not by the default action. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	n = find_threads(pid, argv[2], tids);
	if (n <= 0) {
		fprintf(stderr, "elog-threadhold: process %ld has no thread named \"%s\"\n", pid,
			argv[2]);
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (hold(pid, tids[i]) < 0) {
			fprintf(stderr, "elog-threadhold: thread %ld: cannot hold it: %s\n",
				(long)tids[i], strerror(errno));
			return 1;
		}
	printf("held %d\n", n);
	fflush(stdout);
	sigwait(&set, &sig);
	for (int i = 0; i < n; i++)
		ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
	return 0;
}
