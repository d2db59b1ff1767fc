/* logfmt — structured log lines; see logfmt.h. */
#include "logfmt.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char *elog_log_level_name(enum elog_log_level level)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};

	return (unsigned)level < 4 ? names[level] : "info";
}

static int needs_quotes(const char *s)
{
	if (!*s)
		return 1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == 0x7f || c == '"' || c == '=' || c == '\\')
			return 1;
	}
	return 0;
}

const char *elog_logfmt_value(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	if (cap < 8) {
		if (cap)
			out[0] = 0;
		return out;
	}
	if (!needs_quotes(s)) {
		snprintf(out, cap, "%s", s);
		return out;
	}
	out[n++] = '"';
	for (; *s && n + 6 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = 0;
	return out;
}

void elog_logf(const struct elog_logger *lg, enum elog_log_level level, const char *msg,
	       const char *fmt, ...)
{
	char line[ELOG_LOG_LINE_MAX], ts[ELOG_CLI_TIMESTAMP_MAX], value[ELOG_LOG_VALUE_MAX];
	struct timespec now;
	size_t n;
	int k;

	if (!lg || !lg->out || level < lg->level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	elog_cli_format_timestamp((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts, sizeof(ts));
	k = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts, elog_log_level_name(level),
		     elog_logfmt_value(value, sizeof(value), msg));
	n = k < 0 ? 0 : (size_t)k;
	if (fmt && n < sizeof(line) - 1) {
		va_list ap;
		line[n++] = ' ';
		va_start(ap, fmt);
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		n += k < 0 ? 0 : (size_t)k;
	}
	if (n >= sizeof(line) - 1) {
		n = sizeof(line) - 2;
		memcpy(line + n - 3, "...", 3);
	}
	line[n++] = '\n';
	fwrite(line, 1, n, lg->out);
	fflush(lg->out);
}
