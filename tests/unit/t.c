/* t.c — the unit-test harness; see t.h. */
#include "t.h"

#include <dirent.h>
#include <sys/stat.h>

int t_failed_checks;
const char *t_current;
char t_first_failure[1024];

static int passed, failed;
static char tmp_root[1024];

void t_fail(const char *file, int line, const char *what)
{
	if (t_failed_checks++ == 0)
		snprintf(t_first_failure, sizeof(t_first_failure), "%s:%d: %s", file, line, what);
	else
		fprintf(stderr, "# also %s:%d: %s\n", file, line, what);
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d))) {
			char sub[4096];
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			remove_tree(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void cleanup(void)
{
	if (tmp_root[0] && !getenv("T_KEEP"))
		remove_tree(tmp_root);
}

const char *t_tmpdir(void)
{
	static unsigned counter;
	static char path[4096];

	if (!tmp_root[0]) {
		const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		snprintf(tmp_root, sizeof(tmp_root), "%s/elog-unit-XXXXXX", base);
		if (!mkdtemp(tmp_root)) {
			perror("mkdtemp");
			exit(2);
		}
		atexit(cleanup);
	}
	snprintf(path, sizeof(path), "%s/%u", tmp_root, counter++);
	if (mkdir(path, 0700) < 0) {
		perror("mkdir");
		exit(2);
	}
	return path;
}

int t_run(const char *name, void (*fn)(void))
{
	t_current = name;
	t_failed_checks = 0;
	t_first_failure[0] = '\0';
	fn();
	if (t_failed_checks) {
		failed++;
		printf("not ok - %s: %s\n", name, t_first_failure);
	} else {
		passed++;
		printf("ok - %s\n", name);
	}
	fflush(stdout);
	return t_failed_checks ? -1 : 0;
}

int t_finish(void)
{
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
