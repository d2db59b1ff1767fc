/*
 * cli — what every elog binary shares at the command layer: its name in
 * diagnostics, the exit codes, one option table that drives both getopt and
 * --help, and parsers for the values users type (sizes, durations,
 * timestamps, integers).
 *
 * Diagnostics are one line on stderr, "<prog>: <what failed>: <why>", written
 * with a single write so lines from concurrent processes do not interleave.
 * The helpers print and return; only main() decides to exit, and it returns
 * one of the ELOG_EXIT_* codes (a tool may add its own above 2, documented in
 * its man page, e.g. elog-lag's warn/critical).
 *
 * Values follow one rule in every tool (elog(7) VALUES; docs/cli.md):
 *   - a duration needs its unit ("250ms", "5s", "7d"); a bare number other
 *     than 0 is refused, never taken as milliseconds. Only a config key whose
 *     name carries the unit (retention.ms) takes plain digits, in that unit;
 *   - a size is bytes, with an optional binary unit ("512", "64k", "16M");
 *   - counts, partitions and offsets are decimal digits;
 *   - a bad value on the command line is a usage error: exit 2.
 *
 * Parsers never print: they return 0 and store the value, or return -1 with
 * an ELOG_E_INVAL message that quotes the input ("invalid size \"12x\":
 * unknown unit \"x\""), so the caller prints it after the option's name:
 *
 *     if (elog_cli_parse_size(arg, &bytes, &err) < 0) {
 *             elog_cli_error_err(&err, "--segment-bytes");
 *             return ELOG_EXIT_USAGE;
 *     }
 *
 * Calling sequence in a main():
 *     elog_cli_init(argv[0]);
 *     elog_cli_getopt_init(&g, &program, argc, argv);
 *     while ((id = elog_cli_getopt_next(&g)) != ELOG_CLI_END) ...
 *     operands are argv[g.index .. argc)
 *
 * The option table is the single list of a tool's options: getopt's short
 * and long option arrays and the --help text are built from it, and the bats
 * tests check that the completion files list the same long options.
 */
#ifndef ELOG_CLI_H
#define ELOG_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

#ifndef ELOG_VERSION
#define ELOG_VERSION "0.1.0"
#endif

/* Exit codes shared by every tool: same meaning everywhere. */
#define ELOG_EXIT_OK 0     /* success */
#define ELOG_EXIT_FAIL 1   /* the operation failed: bad data, i/o, network */
#define ELOG_EXIT_USAGE 2  /* bad command line; nothing was done */

/* ------------------------------------------------------------ diagnostics */

/* Remember the program name (basename of argv0) for diagnostics. */
void elog_cli_init(const char *argv0);
/* The name given to elog_cli_init, or "elog" before it. */
const char *elog_cli_prog(void);

/* "prog: <fmt>" */
void elog_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: <fmt>: <err->msg>"; with fmt NULL or "": "prog: <err->msg>". */
void elog_cli_error_err(const struct elog_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "prog: <fmt>: <strerror(errnum)>" */
void elog_cli_error_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: warning: <fmt>": something an operator should know that is not a failure. */
void elog_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------- option table */

#define ELOG_CLI_OPTIONS_MAX 64
#define ELOG_CLI_END (-1)  /* elog_cli_getopt_next: no more options */
#define ELOG_CLI_BAD (-2)  /* elog_cli_getopt_next: bad option, reason printed */
#define ELOG_CLI_DONE (-3) /* elog_cli_getopt_next: --help or --version printed; exit 0 */

/*
 * One option. id is what elog_cli_getopt_next returns: a printable character
 * is also the short option (-r), a value >= 256 makes a long-only option.
 * arg is NULL for a flag, else the argument's name shown in --help ("SIZE").
 * A table ends with an entry whose id is 0.
 */
struct elog_cli_option {
	int id;
	const char *long_name;
	const char *arg;
	const char *help;
};

struct elog_cli_program {
	const char *synopsis;  /* after the name, as in the man page: "[-rv] path ..." */
	const char *summary;   /* one sentence for --help */
	const struct elog_cli_option *options;
};

struct elog_cli_getopt {
	const struct elog_cli_program *program;
	int argc;
	char **argv;
	const char *arg;  /* argument of the option just returned, or NULL */
	int index;        /* at ELOG_CLI_END: argv[index] is the first operand */
	struct option long_options[ELOG_CLI_OPTIONS_MAX + 1];
	char short_options[3 * ELOG_CLI_OPTIONS_MAX + 2];
};

/*
 * Prepare to parse argv with the program's table (GNU getopt_long: options
 * and operands may mix, "--" ends options). getopt's own messages name the
 * program as elog_cli_prog(), which is why argv[0] is replaced by it.
 */
void elog_cli_getopt_init(struct elog_cli_getopt *g, const struct elog_cli_program *program,
			  int argc, char **argv);
/* The next option's id (g->arg set), ELOG_CLI_END or ELOG_CLI_BAD. The
 * options whose long names are "help" and "version" are the same in every
 * tool and handled here: their text goes to stdout and ELOG_CLI_DONE comes
 * back, for the tool to exit 0. */
int elog_cli_getopt_next(struct elog_cli_getopt *g);

/* "usage: prog <synopsis>\n" */
void elog_cli_usage(FILE *f, const struct elog_cli_program *program);
/* The usage line, the summary and one aligned line per option. */
void elog_cli_help(FILE *f, const struct elog_cli_program *program);
/* "prog (elog) <version>\n" */
void elog_cli_version(FILE *f);
/*
 * For a bad command line: "prog: <fmt>" (unless fmt is NULL) and the usage
 * line on stderr. Returns ELOG_EXIT_USAGE, for `return elog_cli_usage_error(...)`.
 */
int elog_cli_usage_error(const struct elog_cli_program *program, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- parsers */

/* One topic, or one partition of it, named by an operand. */
struct elog_cli_target {
	const char *topic;
	int32_t partition;   /* -1: every partition */
};

/*
 * An operand TOPIC[:PARTITION[,PARTITION...]] (split in place: the targets
 * point into it) appended to targets[*count], at most max: a bad topic name
 * or partition, a topic or partition named twice, or too many, is a usage
 * error whose message starts with `what` ("" or e.g. "purge: "). Returns -1
 * when good, else the usage error's exit status (as option parsers do).
 */
int elog_cli_target_operand(const struct elog_cli_program *program, const char *what,
			    char *operand, struct elog_cli_target *targets, size_t *count,
			    size_t max);

/* Decimal digits only (no sign, no blanks), min <= value <= max. */
int elog_cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		       struct elog_err *err);
/* Optional '-', then decimal digits, min <= value <= max. */
int elog_cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
		       struct elog_err *err);

/*
 * Bytes: digits and an optional binary unit: k K KiB (1024), m M MiB, g G GiB,
 * t T TiB, or b B (1). "512", "64k", "16M", "1GiB". Decimal units (KB, MB)
 * are refused rather than guessed.
 */
int elog_cli_parse_size(const char *s, uint64_t *bytes, struct elog_err *err);

/*
 * Milliseconds from one or more <digits><unit> groups, unit ms s m h d
 * (m is minutes): "250ms", "5s", "1m", "2h", "7d", "1h30m". A bare "0" is
 * allowed; any other number needs a unit. Result <= INT64_MAX.
 */
int elog_cli_parse_duration_ms(const char *s, int64_t *ms, struct elog_err *err);
/*
 * An option whose value is a duration within [min_ms, max_ms]: `name` is the
 * option as typed ("--timeout"), `range` the bounds as a user reads them
 * ("1ms..12d"). Returns -1 when the value is good (stored in *ms), else the
 * usage error's exit status, having said why: the convention of the tools'
 * option parsers (`return elog_cli_duration_option(...)`).
 */
int elog_cli_duration_option(const struct elog_cli_program *program, const char *name,
			     const char *arg, int64_t min_ms, int64_t max_ms, const char *range,
			     int64_t *ms);
/*
 * A rate option, records per unit: "100/s", "600/m", "5000/h" (the unit is
 * required, as a duration's is; N from 1 to 10^9). -1 when good (*per_ms
 * set: records a millisecond), else the usage error's exit status, having
 * said why (`name` is the option as typed, "--rate").
 */
int elog_cli_rate_option(const struct elog_cli_program *program, const char *name,
			 const char *arg, double *per_ms);
/*
 * The same, and *unit_ms (when not NULL) is the smallest unit the text
 * used, in milliseconds: 86400000 for "7d", 60000 for "1h30m", 0 for "0".
 * With it a value is shown again in the unit it was given in.
 */
int elog_cli_parse_duration(const char *s, int64_t *ms, int64_t *unit_ms, struct elog_err *err);

/*
 * Milliseconds since the epoch from either
 *   - an integer (epoch milliseconds, may be negative), or
 *   - RFC 3339: YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm), with 't'
 *     or ' ' accepted for 'T' and 'z' for 'Z'; fraction digits beyond
 *     milliseconds are dropped; or
 *   - the same without a zone, YYYY-MM-DDThh:mm:ss[.fraction], or a date
 *     alone, YYYY-MM-DD (midnight): local time, in the zone of the TZ
 *     environment variable (as date(1) reads it; daylight saving time by
 *     the zone's rules); or
 *   - -DURATION (elog_cli_parse_duration_ms, a unit required: "-1h",
 *     "-30m", "-1h30m"): that long before now. Digits alone after '-' are
 *     epoch milliseconds, as above.
 * Years 0000-9999; every field is range checked (Feb 29 only in leap years,
 * second 60 allowed for a leap second).
 */
int elog_cli_parse_timestamp_ms(const char *s, int64_t *ms, struct elog_err *err);
/* The same with "now" given (for -DURATION), for tests. */
int elog_cli_parse_timestamp_ms_at(const char *s, int64_t now_ms, int64_t *ms,
				   struct elog_err *err);

/* ------------------------------------------------------------- formatting */

/* Room for any value the formatters below write. */
#define ELOG_CLI_VALUE_MAX 32

/*
 * A duration as text that elog_cli_parse_duration_ms reads back: in unit_ms
 * when it divides ms exactly ("168h" for 7 days in hours), else in the
 * largest unit that does ("7d", "90s", "250ms"). 0 and negative values
 * (-1: "keep forever" in configs) are plain digits.
 */
void elog_cli_format_duration(int64_t ms, int64_t unit_ms, char *out, size_t cap);
/* Bytes in the largest binary unit that is exact, read back by
 * elog_cli_parse_size: "16M", "1536K", "1000". */
void elog_cli_format_size(uint64_t bytes, char *out, size_t cap);
/* Bytes rounded for a person, as ls -h does: "0", "512", "96K", "1.2M", "34G". */
void elog_cli_format_size_human(uint64_t bytes, char *out, size_t cap);

/* A time lag or an age for a person, rounded to its largest unit: "850ms",
 * "12.5s" (under 2 minutes), "5m" (under 2 hours), "3h" (under 2 days),
 * "2d"; "-" when negative (unknown). Not read back: for tables only. */
void elog_cli_format_age(int64_t ms, char *out, size_t cap);

#define ELOG_CLI_TIMESTAMP_MAX 32
/* RFC 3339 in UTC with milliseconds: "2024-01-02T03:04:05.123Z" (cap >= ELOG_CLI_TIMESTAMP_MAX). */
void elog_cli_format_timestamp(int64_t ms, char *out, size_t cap);

/*
 * A token bucket on records for a --rate (elog_cli_rate_option): filled at
 * per_ms up to 100 ms' worth (at least one record), so the average holds
 * and bursts stay short. per_ms 0: no limit.
 */
struct elog_cli_rate {
	double per_ms;
	double tokens;
	int64_t at_ms;                  /* monotonic: when tokens was last filled */
};
void elog_cli_rate_init(struct elog_cli_rate *r, double per_ms, int64_t now_ms);
/* 0 when a record may go now (its token taken), else the milliseconds to
 * wait before asking again (>= 1). */
int elog_cli_rate_take(struct elog_cli_rate *r, int64_t now_ms);

/*
 * SIGINT and SIGTERM for a tool with a main loop (SIGPIPE ignored: a closed
 * stdout is EPIPE). elog_cli_stops counts them (at most 2: a second one
 * gives up a blocked write); no SA_RESTART, so a blocked call returns EINTR.
 * While elog_cli_setup is 1 (from the install until the tool clears it,
 * when its loop starts and has something to finish) a signal ends the
 * process at once with setup_status, after "prog: line" on stderr when line
 * is not NULL.
 */
#include <signal.h>
extern volatile sig_atomic_t elog_cli_stops;
extern volatile sig_atomic_t elog_cli_setup;
void elog_cli_stop_signals(int setup_status, const char *line);

#endif
