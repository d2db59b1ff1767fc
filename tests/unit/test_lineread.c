/* Unit tests: lineread — lines, the last line without '\n', block boundaries,
 * too-long lines in pieces, read errors. */
#include <fcntl.h>

#include "t.h"
#include "lineread.h"

/* A file holding bytes[0, n), opened for reading; -1 on failure. */
static int open_bytes(const void *bytes, size_t n)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/input", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, bytes, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	close(fd);
	return open(path, O_RDONLY);
}

static void test_lines_and_last_line_without_newline(void)
{
	const char text[] = "{\"a\":1}\n\nx\r\n\0z\nlast";
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fd = open_bytes(text, sizeof(text) - 1);

	T_ASSERT(fd >= 0);
	T_OK(elog_lineread_init(&r, fd, 100, 0, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 7 && memcmp(line.ptr, "{\"a\":1}", 7) == 0);
	T_CHECK(line.number == 1 && line.newline && !line.too_long && !line.last_piece);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 0 && line.number == 2 && line.newline);
	/* '\r' and NUL are content */
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 2 && memcmp(line.ptr, "x\r", 2) == 0 && line.number == 3);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 2 && line.ptr[0] == '\0' && line.ptr[1] == 'z');
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 4 && memcmp(line.ptr, "last", 4) == 0);
	T_CHECK(line.number == 5 && !line.newline && !line.too_long);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	T_EQ_INT(r.bytes_read, sizeof(text) - 1);
	elog_lineread_release(&r);
	close(fd);
}

static void test_empty_input_and_lone_newline(void)
{
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fd = open_bytes("", 0);

	T_ASSERT(fd >= 0);
	T_OK(elog_lineread_init(&r, fd, 10, 0, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	elog_lineread_release(&r);
	close(fd);

	fd = open_bytes("\n", 1);
	T_ASSERT(fd >= 0);
	T_OK(elog_lineread_init(&r, fd, 10, 0, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 0 && line.newline && line.number == 1);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	elog_lineread_release(&r);
	close(fd);
}

/* A line of exactly line_max bytes is whole; one byte more comes in pieces. */
static void test_line_max_boundary(void)
{
	const char text[] = "abcd\nabcde\nxy\n";
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fd = open_bytes(text, sizeof(text) - 1);

	T_ASSERT(fd >= 0);
	T_OK(elog_lineread_init(&r, fd, 4, 0, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 4 && !line.too_long && line.number == 1);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 4 && memcmp(line.ptr, "abcd", 4) == 0);
	T_CHECK(line.too_long && !line.last_piece && !line.newline && line.number == 2);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 1 && line.ptr[0] == 'e');
	T_CHECK(line.too_long && line.last_piece && line.newline && line.number == 2);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 2 && !line.too_long && line.number == 3);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	elog_lineread_release(&r);
	close(fd);
}

/* A too-long last line without '\n': its last piece is never empty. */
static void test_long_line_at_eof(void)
{
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fd = open_bytes("1234567", 7);

	T_ASSERT(fd >= 0);
	T_OK(elog_lineread_init(&r, fd, 3, 2, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 3 && line.too_long && !line.last_piece);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 3 && memcmp(line.ptr, "456", 3) == 0);
	T_CHECK(line.too_long && !line.last_piece);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 1 && line.ptr[0] == '7');
	T_CHECK(line.too_long && line.last_piece && !line.newline && line.number == 1);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	elog_lineread_release(&r);
	close(fd);
}

/*
 * Pseudo-random lines (some empty, some too long) read with tiny and odd
 * block sizes: the lines, joined with the pieces of too-long ones, must
 * give back the input exactly, with the right numbers.
 */
static void test_random_input_round_trips(void)
{
	enum { INPUT_BYTES = 200000, LINE_MAX = 37 };
	char *input = malloc(INPUT_BYTES), *again = malloc(INPUT_BYTES + 1);
	uint32_t seed = 12345;
	uint64_t newlines = 0;
	size_t blocks[] = {1, 2, 7, 64, 4096, 0};

	T_ASSERT(input && again);
	for (size_t i = 0; i < INPUT_BYTES; i++) {
		seed = seed * 1103515245u + 12345u;
		/* about one byte in 30 is a newline, runs of them make empty lines */
		input[i] = (seed >> 16) % 30 == 0 ? '\n' : (char)('a' + (seed >> 20) % 26);
		newlines += input[i] == '\n';
	}
	for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
		struct elog_lineread r;
		struct elog_line line;
		struct elog_err err;
		size_t at = 0, pieces_of_long = 0;
		uint64_t last_number = 0;
		int fd = open_bytes(input, INPUT_BYTES), rc, in_long = 0;

		T_ASSERT(fd >= 0);
		T_OK(elog_lineread_init(&r, fd, LINE_MAX, blocks[b], &err), &err);
		while ((rc = elog_lineread_next(&r, &line, &err)) == 1) {
			T_ASSERT(line.len <= LINE_MAX);
			T_ASSERT(at + line.len + 1 <= INPUT_BYTES + 1);
			if (in_long) {
				T_ASSERT(line.too_long && line.number == last_number);
			} else {
				T_ASSERT(line.number == last_number + 1);
			}
			memcpy(again + at, line.ptr, line.len);
			at += line.len;
			if (line.newline)
				again[at++] = '\n';
			in_long = line.too_long && !line.last_piece;
			pieces_of_long += line.too_long;
			last_number = line.number;
		}
		T_EQ_INT(rc, 0);
		T_EQ_INT(at, INPUT_BYTES);
		T_CHECK(memcmp(again, input, INPUT_BYTES) == 0);
		T_CHECK(pieces_of_long > 0);
		/* every '\n' ends a line, plus the last line if it has none */
		T_EQ_INT(last_number, newlines + (input[INPUT_BYTES - 1] != '\n'));
		elog_lineread_release(&r);
		close(fd);
	}
	free(input);
	free(again);
}

static void test_read_error_is_sticky(void)
{
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fd = open(t_tmpdir(), O_RDONLY | O_DIRECTORY);

	T_ASSERT(fd >= 0);
	T_OK(elog_lineread_init(&r, fd, 16, 0, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), -1);
	T_EQ_INT(err.code, ELOG_E_IO);
	T_CHECK(strstr(err.msg, "cannot read: ") == err.msg);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), -1);
	T_EQ_INT(err.code, ELOG_E_IO);
	elog_lineread_release(&r);
	elog_lineread_release(&r); /* releasing twice is harmless */
	close(fd);
}

/* Lines come from a pipe in many short reads. */
static void test_pipe_short_reads(void)
{
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fds[2], count = 0;

	T_ASSERT(pipe(fds) == 0);
	T_ASSERT(write(fds[1], "one\ntw", 6) == 6);
	T_OK(elog_lineread_init(&r, fds[0], 8, 0, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 3 && memcmp(line.ptr, "one", 3) == 0);
	T_ASSERT(write(fds[1], "o\nthree", 7) == 7);
	close(fds[1]);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 1);
	T_CHECK(line.len == 3 && memcmp(line.ptr, "two", 3) == 0 && line.number == 2);
	while (elog_lineread_next(&r, &line, &err) == 1)
		count++;
	T_EQ_INT(count, 1);
	T_CHECK(line.len == 5 && memcmp(line.ptr, "three", 5) == 0 && !line.newline);
	elog_lineread_release(&r);
	close(fds[0]);
}

/* try_next never reads; fill reads once; a half line waits for its end. */
static void test_try_next_and_fill(void)
{
	struct elog_lineread r;
	struct elog_line line;
	struct elog_err err;
	int fds[2];

	T_ASSERT(pipe(fds) == 0);
	T_OK(elog_lineread_init(&r, fds[0], 8, 0, &err), &err);
	T_EQ_INT(elog_lineread_try_next(&r, &line, &err), ELOG_LINEREAD_AGAIN);
	T_ASSERT(write(fds[1], "a\nhal", 5) == 5);
	T_OK(elog_lineread_fill(&r, &err), &err);
	T_EQ_INT(elog_lineread_try_next(&r, &line, &err), 1);
	T_CHECK(line.len == 1 && line.ptr[0] == 'a');
	T_EQ_INT(elog_lineread_try_next(&r, &line, &err), ELOG_LINEREAD_AGAIN);
	T_ASSERT(write(fds[1], "f\n", 2) == 2);
	T_OK(elog_lineread_fill(&r, &err), &err);
	T_EQ_INT(elog_lineread_try_next(&r, &line, &err), 1);
	T_CHECK(line.len == 4 && memcmp(line.ptr, "half", 4) == 0 && line.number == 2);
	close(fds[1]);
	T_EQ_INT(elog_lineread_try_next(&r, &line, &err), ELOG_LINEREAD_AGAIN);
	T_OK(elog_lineread_fill(&r, &err), &err);
	T_EQ_INT(elog_lineread_try_next(&r, &line, &err), 0);
	/* after the end, fill is a no-op and the end stays the end */
	T_OK(elog_lineread_fill(&r, &err), &err);
	T_EQ_INT(elog_lineread_next(&r, &line, &err), 0);
	elog_lineread_release(&r);
	close(fds[0]);
}

int main(void)
{
	T_RUN(test_lines_and_last_line_without_newline);
	T_RUN(test_empty_input_and_lone_newline);
	T_RUN(test_line_max_boundary);
	T_RUN(test_long_line_at_eof);
	T_RUN(test_random_input_round_trips);
	T_RUN(test_read_error_is_sticky);
	T_RUN(test_pipe_short_reads);
	T_RUN(test_try_next_and_fill);
	return t_finish();
}
