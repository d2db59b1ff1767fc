/*
 * logfmt — the broker's structured log lines.
 *
 * One line per event, written with a single fwrite so lines from the loop
 * and (rarely) other threads do not interleave:
 *
 *   ts=2024-01-02T03:04:05.123Z level=info msg=ready listen=127.0.0.1:7411 dir=./elog-data
 *
 * libcore never chooses where its logs go: the command passes a FILE *
 * (stderr for elog-serve) in a struct elog_logger, and a NULL out drops
 * every line. Keys are bare words; a value is printed bare when it is a
 * non-empty run of bytes other than blank, '"', '=', '\' and control
 * bytes, else quoted with those escaped (elog_logfmt_value).
 *
 *   elog_logf(lg, ELOG_LOG_WARN, "topic removed", "topic=%s",
 *             elog_logfmt_value(v, sizeof(v), name));
 */
#ifndef ELOG_LOGFMT_H
#define ELOG_LOGFMT_H

#include <stddef.h>
#include <stdio.h>

enum elog_log_level {
	ELOG_LOG_DEBUG = 0,
	ELOG_LOG_INFO = 1,
	ELOG_LOG_WARN = 2,
	ELOG_LOG_ERROR = 3,
};

struct elog_logger {
	FILE *out;                   /* NULL: discard */
	enum elog_log_level level;   /* lines below it are dropped */
};

/* Longest line; longer ones are cut (and end with "..."). */
#define ELOG_LOG_LINE_MAX 2048
/* Room for one quoted value of up to ~250 bytes (escapes included). */
#define ELOG_LOG_VALUE_MAX 1024

/* "ts=… level=… msg=<msg quoted as needed>" then " " and the formatted kv tail
 * (fmt may be NULL). */
void elog_logf(const struct elog_logger *lg, enum elog_log_level level, const char *msg,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* s as a logfmt value (bare or quoted) in out; returns out. */
const char *elog_logfmt_value(char *out, size_t cap, const char *s);

const char *elog_log_level_name(enum elog_log_level level);

#endif
