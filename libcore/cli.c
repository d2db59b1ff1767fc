/* cli — diagnostics, option tables and value parsers for the tools; see cli.h. */
#include "cli.h"
#include "proto.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ diagnostics */

#define CLI_LINE_MAX 1024

static const char *prog_name = "elog";

void elog_cli_init(const char *argv0)
{
	const char *slash;

	if (!argv0 || !*argv0)
		return;
	slash = strrchr(argv0, '/');
	prog_name = slash && slash[1] ? slash + 1 : argv0;
}

const char *elog_cli_prog(void)
{
	return prog_name;
}

/*
 * Write "prog: <tag><fmt>[: <reason>]\n" to stderr with one write(2), so
 * that a line is never split by another process writing to the same pipe.
 * A line longer than CLI_LINE_MAX is cut, still ending in a newline.
 */
static void emit_line(const char *tag, const char *reason, const char *fmt, va_list ap)
{
	char line[CLI_LINE_MAX];
	size_t used;
	const char *p;
	ssize_t n;

	snprintf(line, sizeof(line), "%s: %s", prog_name, tag);
	used = strlen(line);
	if (fmt && *fmt) {
		vsnprintf(line + used, sizeof(line) - used, fmt, ap);
		used = strlen(line);
		if (reason)
			snprintf(line + used, sizeof(line) - used, ": %s", reason);
	} else if (reason) {
		snprintf(line + used, sizeof(line) - used, "%s", reason);
	}
	used = strlen(line);
	if (used == sizeof(line) - 1)
		used--;
	line[used++] = '\n';
	for (p = line; used > 0; p += n, used -= (size_t)n) {
		n = write(STDERR_FILENO, p, used);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			return;
	}
}

void elog_cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_line("", NULL, fmt, ap);
	va_end(ap);
}

void elog_cli_error_err(const struct elog_err *err, const char *fmt, ...)
{
	const char *reason = err && err->msg[0] ? err->msg : "unknown error";
	va_list ap;

	va_start(ap, fmt);
	emit_line("", reason, fmt, ap);
	va_end(ap);
}

void elog_cli_error_errno(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_line("", strerror(errnum), fmt, ap);
	va_end(ap);
}

void elog_cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit_line("warning: ", NULL, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------- option table */

static int is_short_id(int id)
{
	return id > 0 && id < 256 && isgraph(id) && id != ':' && id != '?' && id != '-';
}

void elog_cli_getopt_init(struct elog_cli_getopt *g, const struct elog_cli_program *program,
			  int argc, char **argv)
{
	const struct elog_cli_option *o;
	size_t n = 0, s = 0;

	memset(g, 0, sizeof(*g));
	g->program = program;
	g->argc = argc;
	g->argv = argv;
	g->index = 1;
	for (o = program->options; o->id != 0; o++) {
		assert(n < ELOG_CLI_OPTIONS_MAX);
		assert(is_short_id(o->id) || (o->id >= 256 && o->long_name));
		if (is_short_id(o->id)) {
			g->short_options[s++] = (char)o->id;
			if (o->arg)
				g->short_options[s++] = ':';
		}
		if (o->long_name) {
			g->long_options[n].name = o->long_name;
			g->long_options[n].has_arg = o->arg ? required_argument : no_argument;
			g->long_options[n].val = o->id;
			n++;
		}
	}
	assert(s < sizeof(g->short_options));
	/* getopt prefixes its own messages with argv[0]. */
	if (argc > 0)
		argv[0] = (char *)elog_cli_prog();
	opterr = 1;
	optind = 0; /* glibc: start over, even after an earlier parse */
}

int elog_cli_getopt_next(struct elog_cli_getopt *g)
{
	int c = getopt_long(g->argc, g->argv, g->short_options, g->long_options, NULL);

	g->arg = optarg;
	g->index = optind;
	if (c == -1)
		return ELOG_CLI_END;
	if (c == '?' || c == ':')
		return ELOG_CLI_BAD;
	for (const struct elog_cli_option *o = g->program->options; o->id != 0; o++) {
		if (o->id != c || !o->long_name)
			continue;
		if (!strcmp(o->long_name, "help")) {
			elog_cli_help(stdout, g->program);
			return ELOG_CLI_DONE;
		}
		if (!strcmp(o->long_name, "version")) {
			elog_cli_version(stdout);
			return ELOG_CLI_DONE;
		}
		break;
	}
	return c;
}

void elog_cli_usage(FILE *f, const struct elog_cli_program *program)
{
	fprintf(f, "usage: %s %s\n", elog_cli_prog(), program->synopsis);
}

/* "  -s, --segment-bytes=SIZE" into out. */
static void option_left_column(const struct elog_cli_option *o, char *out, size_t cap)
{
	char shortpart[8] = "    ";

	if (is_short_id(o->id))
		snprintf(shortpart, sizeof(shortpart), "-%c%s", o->id, o->long_name ? ", " : "");
	if (o->long_name)
		snprintf(out, cap, "  %s--%s%s%s", shortpart, o->long_name, o->arg ? "=" : "",
			 o->arg ? o->arg : "");
	else
		snprintf(out, cap, "  %s%s%s", shortpart, o->arg ? " " : "", o->arg ? o->arg : "");
}

void elog_cli_help(FILE *f, const struct elog_cli_program *program)
{
	const struct elog_cli_option *o;
	char left[96];
	size_t width = 0;

	for (o = program->options; o->id != 0; o++) {
		option_left_column(o, left, sizeof(left));
		if (strlen(left) > width)
			width = strlen(left);
	}
	width += 2;
	elog_cli_usage(f, program);
	if (program->summary)
		fprintf(f, "\n%s\n", program->summary);
	fprintf(f, "\noptions:\n");
	for (o = program->options; o->id != 0; o++) {
		option_left_column(o, left, sizeof(left));
		fprintf(f, "%-*s%s\n", (int)width, left, o->help ? o->help : "");
	}
}

void elog_cli_version(FILE *f)
{
	fprintf(f, "%s (elog) %s\n", elog_cli_prog(), ELOG_VERSION);
}

int elog_cli_usage_error(const struct elog_cli_program *program, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		emit_line("", NULL, fmt, ap);
		va_end(ap);
	}
	fflush(stdout);
	elog_cli_usage(stderr, program);
	return ELOG_EXIT_USAGE;
}

int elog_cli_duration_option(const struct elog_cli_program *program, const char *name,
			     const char *arg, int64_t min_ms, int64_t max_ms, const char *range,
			     int64_t *ms)
{
	struct elog_err err;

	if (elog_cli_parse_duration_ms(arg, ms, &err) < 0)
		return elog_cli_usage_error(program, "%s: %s", name, err.msg);
	if (*ms < min_ms || *ms > max_ms)
		return elog_cli_usage_error(program, "%s: %s is outside %s", name, arg, range);
	return -1;
}

int elog_cli_rate_option(const struct elog_cli_program *program, const char *name,
			 const char *arg, double *per_ms)
{
	char digits[24];
	const char *slash = strchr(arg, '/');
	struct elog_err err;
	uint64_t n;
	double unit_ms;

	if (!slash || (size_t)(slash - arg) >= sizeof(digits))
		return elog_cli_usage_error(program, "%s: invalid rate \"%s\": records per "
					    "unit, e.g. 100/s, 600/m, 5000/h", name, arg);
	memcpy(digits, arg, (size_t)(slash - arg));
	digits[slash - arg] = '\0';
	if (strcmp(slash + 1, "s") == 0)
		unit_ms = 1000.0;
	else if (strcmp(slash + 1, "m") == 0)
		unit_ms = 60000.0;
	else if (strcmp(slash + 1, "h") == 0)
		unit_ms = 3600000.0;
	else
		return elog_cli_usage_error(program, "%s: invalid rate \"%s\": unknown unit "
					    "\"/%s\" (/s, /m or /h)", name, arg, slash + 1);
	if (elog_cli_parse_u64(digits, 1, 1000000000, &n, &err) < 0)
		return elog_cli_usage_error(program, "%s: %s", name, err.msg);
	*per_ms = (double)n / unit_ms;
	return -1;
}

void elog_cli_rate_init(struct elog_cli_rate *r, double per_ms, int64_t now_ms)
{
	r->per_ms = per_ms;
	r->tokens = 1.0;
	r->at_ms = now_ms;
}

int elog_cli_rate_take(struct elog_cli_rate *r, int64_t now_ms)
{
	double burst = r->per_ms * 100.0 > 1.0 ? r->per_ms * 100.0 : 1.0, wait;

	if (r->per_ms <= 0.0)
		return 0;
	if (now_ms > r->at_ms)
		r->tokens += (double)(now_ms - r->at_ms) * r->per_ms;
	if (r->tokens > burst)
		r->tokens = burst;
	r->at_ms = now_ms;
	if (r->tokens >= 1.0) {
		r->tokens -= 1.0;
		return 0;
	}
	wait = (1.0 - r->tokens) / r->per_ms + 1.0;
	return wait > 1e6 ? 1000000 : (int)wait;
}

static int target_add(const struct elog_cli_program *program, const char *what, const char *topic,
		      int32_t partition, struct elog_cli_target *targets, size_t *count, size_t max)
{
	for (size_t i = 0; i < *count; i++) {
		const struct elog_cli_target *t = &targets[i];
		if (strcmp(t->topic, topic) != 0)
			continue;
		if (t->partition < 0 || partition < 0 || t->partition == partition)
			return elog_cli_usage_error(program, "%s'%s'%s listed twice", what, topic,
						    partition >= 0 && t->partition >= 0 ? ": a partition"
											: "");
	}
	if (*count == max)
		return elog_cli_usage_error(program, "%smore than %zu topic partitions", what, max);
	targets[(*count)++] = (struct elog_cli_target){topic, partition};
	return -1;
}

int elog_cli_target_operand(const struct elog_cli_program *program, const char *what,
			    char *operand, struct elog_cli_target *targets, size_t *count,
			    size_t max)
{
	char *colon = strchr(operand, ':'), *p, *comma;
	struct elog_err err;
	uint64_t id;
	int rc;

	if (colon)
		*colon = '\0';
	if (elog_topic_name_check(operand, strlen(operand), 0, &err) < 0)
		return elog_cli_usage_error(program, "%sinvalid topic \"%s\": %s", what, operand,
					    err.msg);
	if (!colon)
		return target_add(program, what, operand, -1, targets, count, max);
	/* Each pass takes one partition; the operand's commas bound them. */
	for (p = colon + 1;; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (elog_cli_parse_u64(p, 0, INT32_MAX, &id, &err) < 0)
			return elog_cli_usage_error(program, "%s'%s': invalid partition: %s", what,
						    operand, err.msg);
		rc = target_add(program, what, operand, (int32_t)id, targets, count, max);
		if (rc >= 0 || !comma)
			return rc;
	}
}

/* ---------------------------------------------------------------- parsers */

/* The user's input, quoted and cut short, for an error message. */
static const char *quoted(char out[72], const char *s)
{
	size_t o = 0, i;

	out[o++] = '"';
	for (i = 0; s[i] && o < 64; i++)
		out[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
	if (s[i]) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/*
 * Decimal digits at *p into *v, advancing *p past them. Returns the number of
 * digits, 0 if there are none, -1 if the value does not fit in 64 bits.
 */
static int scan_digits(const char **p, uint64_t *v)
{
	const char *s = *p;
	int overflow = 0;

	*v = 0;
	while (*s >= '0' && *s <= '9') {
		uint64_t d = (uint64_t)(*s - '0');
		if (*v > (UINT64_MAX - d) / 10)
			overflow = 1;
		else
			*v = *v * 10 + d;
		s++;
	}
	if (s == *p)
		return 0;
	*p = s;
	return overflow ? -1 : 1;
}

int elog_cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		       struct elog_err *err)
{
	char q[72];
	const char *p = s ? s : "";
	uint64_t v;
	int r = scan_digits(&p, &v);

	if (r == 0 || *p)
		return elog_err_set(err, ELOG_E_INVAL, "invalid number %s", quoted(q, s ? s : ""));
	if (r < 0 || v < min || v > max)
		return elog_err_set(err, ELOG_E_INVAL, "number %s out of range %" PRIu64 "..%" PRIu64,
				    quoted(q, s), min, max);
	*out = v;
	return 0;
}

int elog_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
		       struct elog_err *err)
{
	char q[72];
	const char *p = s ? s : "";
	int negative = *p == '-';
	uint64_t v;
	int64_t value;
	int r;

	p += negative;
	r = scan_digits(&p, &v);
	if (r == 0 || *p)
		return elog_err_set(err, ELOG_E_INVAL, "invalid number %s", quoted(q, s ? s : ""));
	if (r < 0 || v > (uint64_t)INT64_MAX + negative)
		goto range;
	if (negative)
		value = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		value = (int64_t)v;
	if (value < min || value > max)
		goto range;
	*out = value;
	return 0;
range:
	return elog_err_set(err, ELOG_E_INVAL, "number %s out of range %" PRId64 "..%" PRId64,
			    quoted(q, s), min, max);
}

static const struct {
	const char *name;
	unsigned shift;
} size_units[] = {
	{"", 0},    {"b", 0},   {"B", 0},
	{"k", 10},  {"K", 10},  {"KiB", 10},
	{"m", 20},  {"M", 20},  {"MiB", 20},
	{"g", 30},  {"G", 30},  {"GiB", 30},
	{"t", 40},  {"T", 40},  {"TiB", 40},
};

int elog_cli_parse_size(const char *s, uint64_t *bytes, struct elog_err *err)
{
	char q[72], qu[72];
	const char *p = s ? s : "";
	uint64_t v;
	size_t i;
	int r = scan_digits(&p, &v);

	if (r == 0)
		return elog_err_set(err, ELOG_E_INVAL, "invalid size %s: expected digits and a unit",
				    quoted(q, s ? s : ""));
	for (i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
		if (strcmp(p, size_units[i].name) != 0)
			continue;
		if (r < 0 || v > UINT64_MAX >> size_units[i].shift)
			return elog_err_set(err, ELOG_E_INVAL, "size %s too large", quoted(q, s));
		*bytes = v << size_units[i].shift;
		return 0;
	}
	return elog_err_set(err, ELOG_E_INVAL,
			    "invalid size %s: unknown unit %s (binary units: k, M, G, T or KiB, MiB, GiB, TiB)",
			    quoted(q, s), quoted(qu, p));
}

/* Duration units, largest first (m is minutes). */
static const struct {
	int64_t ms;
	const char *name;
} duration_units[] = {
	{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"},
};

/* The duration unit at *p (the longest name that matches: "ms" before "m"),
 * advancing past it: its length in ms, 0 if none. */
static int64_t duration_unit(const char **p)
{
	size_t i, best = 0, best_len = 0;

	for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		size_t len = strlen(duration_units[i].name);
		if (len > best_len && strncmp(*p, duration_units[i].name, len) == 0) {
			best = i;
			best_len = len;
		}
	}
	if (best_len == 0)
		return 0;
	*p += best_len;
	return duration_units[best].ms;
}

int elog_cli_parse_duration_ms(const char *s, int64_t *ms, struct elog_err *err)
{
	return elog_cli_parse_duration(s, ms, NULL, err);
}

int elog_cli_parse_duration(const char *s, int64_t *ms, int64_t *unit_ms, struct elog_err *err)
{
	char q[72];
	const char *p = s ? s : "";
	int64_t total = 0, smallest_ms = 0;

	if (strcmp(p, "0") == 0) {
		*ms = 0;
		if (unit_ms)
			*unit_ms = 0;
		return 0;
	}
	if (!*p)
		return elog_err_set(err, ELOG_E_INVAL, "invalid duration \"\"");
	while (*p) {
		uint64_t v;
		int r = scan_digits(&p, &v);
		int64_t group_ms;

		if (r == 0)
			return elog_err_set(err, ELOG_E_INVAL, "invalid duration %s: expected a number",
					    quoted(q, s));
		group_ms = duration_unit(&p);
		if (group_ms == 0)
			return elog_err_set(err, ELOG_E_INVAL,
					    "invalid duration %s: missing or unknown unit (ms, s, m, h, d)",
					    quoted(q, s));
		if (r < 0 || v > (uint64_t)(INT64_MAX / group_ms) ||
		    (int64_t)v * group_ms > INT64_MAX - total)
			return elog_err_set(err, ELOG_E_INVAL, "duration %s too large", quoted(q, s));
		total += (int64_t)v * group_ms;
		if (smallest_ms == 0 || group_ms < smallest_ms)
			smallest_ms = group_ms;
	}
	*ms = total;
	if (unit_ms)
		*unit_ms = smallest_ms;
	return 0;
}

/* ------------------------------------------------------------- formatting */

void elog_cli_format_duration(int64_t ms, int64_t unit_ms, char *out, size_t cap)
{
	size_t i, n = sizeof(duration_units) / sizeof(duration_units[0]);

	if (ms <= 0) {
		snprintf(out, cap, "%" PRId64, ms);
		return;
	}
	for (i = 0; i < n; i++)
		if (duration_units[i].ms == unit_ms && ms % unit_ms == 0)
			break;
	if (i == n)
		for (i = 0; i + 1 < n && ms % duration_units[i].ms != 0; i++)
			;
	snprintf(out, cap, "%" PRId64 "%s", ms / duration_units[i].ms, duration_units[i].name);
}

static const char size_letters[] = "KMGT";

void elog_cli_format_size(uint64_t bytes, char *out, size_t cap)
{
	unsigned shift = 0;

	while (bytes != 0 && shift < 40 && (bytes & ((UINT64_C(1) << (shift + 10)) - 1)) == 0)
		shift += 10;
	if (shift == 0)
		snprintf(out, cap, "%" PRIu64, bytes);
	else
		snprintf(out, cap, "%" PRIu64 "%c", bytes >> shift, size_letters[shift / 10 - 1]);
}

void elog_cli_format_size_human(uint64_t bytes, char *out, size_t cap)
{
	double v = (double)bytes;
	int unit = -1;
	uint64_t n;

	while (v >= 1024 && unit < 3) {
		v /= 1024;
		unit++;
	}
	if (unit < 0) {
		snprintf(out, cap, "%" PRIu64, bytes);
		return;
	}
	if (v < 9.95) {
		/* one decimal below 10 units, none when it is 0: "1.2M", "4K" */
		n = (uint64_t)(v * 10 + 0.5);
		if (n % 10)
			snprintf(out, cap, "%" PRIu64 ".%" PRIu64 "%c", n / 10, n % 10, size_letters[unit]);
		else
			snprintf(out, cap, "%" PRIu64 "%c", n / 10, size_letters[unit]);
		return;
	}
	n = (uint64_t)(v + 0.5);
	if (n >= 1024 && unit < 3) {
		n = 1;
		unit++;
	}
	snprintf(out, cap, "%" PRIu64 "%c", n, size_letters[unit]);
}

/* ------------------------------------------------------------- timestamps */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int year, int month)
{
	static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

/* Exactly n digits at p as a number, or -1. */
static int fixed_digits(const char *p, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

struct rfc3339 {
	int year, month, day, hour, minute, second, millis, offset_minutes;
	int local;                     /* no zone given: local time */
};

/* The time part after the date: "hh:mm:ss[.frac]" then the zone; 0 or -1. */
static int parse_time_of_day(const char *p, struct rfc3339 *t)
{
	int digits = 0, sign, oh, om;

	if (strlen(p) < 8 || p[2] != ':' || p[5] != ':')
		return -1;
	t->hour = fixed_digits(p, 2);
	t->minute = fixed_digits(p + 3, 2);
	t->second = fixed_digits(p + 6, 2);
	if (t->hour < 0 || t->minute < 0 || t->second < 0)
		return -1;
	p += 8;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				t->millis = t->millis * 10 + (*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			t->millis *= 10;
	}
	if (*p == '\0') {
		t->local = 1;
		return 0;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return 0;
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':')
		return -1;
	sign = *p == '-' ? -1 : 1;
	oh = fixed_digits(p + 1, 2);
	om = fixed_digits(p + 4, 2);
	if (oh < 0 || om < 0 || oh > 23 || om > 59)
		return -1;
	t->offset_minutes = sign * (oh * 60 + om);
	return 0;
}

static int parse_rfc3339(const char *s, struct rfc3339 *t)
{
	memset(t, 0, sizeof(*t));
	if (strlen(s) < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	t->year = fixed_digits(s, 4);
	t->month = fixed_digits(s + 5, 2);
	t->day = fixed_digits(s + 8, 2);
	if (t->year < 0 || t->month < 1 || t->month > 12 || t->day < 1 ||
	    (unsigned)t->day > days_in_month(t->year, t->month))
		return -1;
	if (s[10] == '\0') {
		t->local = 1;
		return 0;
	}
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -1;
	if (parse_time_of_day(s + 11, t) < 0)
		return -1;
	if (t->hour > 23 || t->minute > 59 || t->second > 60)
		return -1;
	return 0;
}

/* A local date and time (the TZ environment variable's zone) in ms since the
 * epoch, daylight saving time decided by the zone's rules. 0 or -1. */
static int local_ms(const struct rfc3339 *t, int64_t *ms)
{
	struct tm tm;
	time_t secs;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->month - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->minute;
	tm.tm_sec = t->second;
	tm.tm_isdst = -1;
	errno = 0;
	secs = mktime(&tm);
	if (secs == (time_t)-1 && errno != 0)
		return -1;
	*ms = (int64_t)secs * 1000 + t->millis;
	return 0;
}

int elog_cli_parse_timestamp_ms_at(const char *s, int64_t now_ms, int64_t *ms,
				   struct elog_err *err)
{
	char q[72];
	const char *digits = s ? s + (s[0] == '-') : "";
	struct rfc3339 t;
	int64_t days, ago;
	struct elog_err e;

	if (*digits && strspn(digits, "0123456789") == strlen(digits))
		return elog_cli_parse_i64(s, INT64_MIN, INT64_MAX, ms, err);
	/* -DURATION: that long before now */
	if (s && s[0] == '-' && s[1] >= '0' && s[1] <= '9' &&
	    elog_cli_parse_duration_ms(s + 1, &ago, &e) == 0) {
		if (now_ms < INT64_MIN + ago)
			return elog_err_set(err, ELOG_E_INVAL, "invalid timestamp %s: too far back",
					    quoted(q, s));
		*ms = now_ms - ago;
		return 0;
	}
	if (!s || parse_rfc3339(s, &t) < 0)
		return elog_err_set(err, ELOG_E_INVAL,
				    "invalid timestamp %s: expected RFC 3339 (2024-01-02T03:04:05Z; "
				    "without a zone, local time), epoch milliseconds or -DURATION (-1h)",
				    quoted(q, s ? s : ""));
	if (t.local) {
		if (local_ms(&t, ms) < 0)
			return elog_err_set(err, ELOG_E_INVAL, "invalid timestamp %s: not a local time",
					    quoted(q, s));
		return 0;
	}
	days = days_from_civil(t.year, (unsigned)t.month, (unsigned)t.day);
	*ms = days * 86400000 + (int64_t)t.hour * 3600000 + (int64_t)t.minute * 60000 +
	      (int64_t)t.second * 1000 + t.millis - (int64_t)t.offset_minutes * 60000;
	return 0;
}

int elog_cli_parse_timestamp_ms(const char *s, int64_t *ms, struct elog_err *err)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return elog_cli_parse_timestamp_ms_at(s, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
					      ms, err);
}

void elog_cli_format_age(int64_t ms, char *out, size_t cap)
{
	if (ms < 0)
		snprintf(out, cap, "-");
	else if (ms < 1000)
		snprintf(out, cap, "%" PRId64 "ms", ms);
	else if (ms < 120000)
		snprintf(out, cap, "%.1fs", (double)ms / 1000.0);
	else if (ms < 2 * 3600000)
		snprintf(out, cap, "%" PRId64 "m", ms / 60000);
	else if (ms < 2 * (int64_t)86400000)
		snprintf(out, cap, "%" PRId64 "h", ms / 3600000);
	else
		snprintf(out, cap, "%" PRId64 "d", ms / (int64_t)86400000);
}

void elog_cli_format_timestamp(int64_t ms, char *out, size_t cap)
{
	int64_t days = ms / 86400000, rem = ms % 86400000, year;
	unsigned month, day;

	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	snprintf(out, cap, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03dZ", year, month, day,
		 (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
		 (int)(rem % 1000));
}

/* ---------------------------------------------------------------- stop signals */

volatile sig_atomic_t elog_cli_stops;
volatile sig_atomic_t elog_cli_setup;
static int stop_setup_status;
static char stop_line[ELOG_ERR_MSG_MAX];
static size_t stop_line_len;     /* computed up front: strlen is no signal-safe call */

static void on_stop_signal(int sig)
{
	(void)sig;
	if (elog_cli_stops < 2)
		elog_cli_stops++;
	if (elog_cli_setup) {
		if (stop_line_len) {
			ssize_t n = write(STDERR_FILENO, stop_line, stop_line_len);
			(void)n;
		}
		_exit(stop_setup_status);
	}
}

void elog_cli_stop_signals(int setup_status, const char *line)
{
	struct sigaction ignore, stop;

	stop_setup_status = setup_status;
	stop_line_len = 0;
	if (line) {
		snprintf(stop_line, sizeof(stop_line), "%.64s: %.400s\n", elog_cli_prog(), line);
		stop_line_len = strlen(stop_line);
	}
	elog_cli_setup = 1;
	memset(&ignore, 0, sizeof(ignore));
	memset(&stop, 0, sizeof(stop));
	ignore.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ignore, NULL);
	/* No SA_RESTART: a blocked write or wait returns EINTR. */
	stop.sa_handler = on_stop_signal;
	sigemptyset(&stop.sa_mask);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
}
