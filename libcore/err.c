/* err — error codes and one-line messages; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[ELOG_E__COUNT] = {
	[ELOG_OK] = "ok",
	[ELOG_E_INVAL] = "invalid",
	[ELOG_E_IO] = "io",
	[ELOG_E_CORRUPT] = "corrupt",
	[ELOG_E_VERSION] = "version",
	[ELOG_E_LIMIT] = "limit",
	[ELOG_E_NOMEM] = "nomem",
	[ELOG_E_GAP] = "gap",
	[ELOG_E_OVERLAP] = "overlap",
	[ELOG_E_RANGE] = "range",
	[ELOG_E_FAILED] = "failed",
	[ELOG_E_BUSY] = "busy",
	[ELOG_E_DAMAGED] = "damaged",
	[ELOG_E_NOSPACE] = "nospace",
};

const char *elog_errcode_name(enum elog_errcode code)
{
	if ((int)code < 0 || code >= ELOG_E__COUNT)
		return "unknown";
	return code_names[code];
}

void elog_err_clear(struct elog_err *err)
{
	if (!err)
		return;
	err->code = ELOG_OK;
	err->msg[0] = '\0';
}

int elog_err_set(struct elog_err *err, enum elog_errcode code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int elog_err_errno(struct elog_err *err, enum elog_errcode code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (!err)
		return -1;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", strerror(errnum));
	return -1;
}

int elog_err_prefix(struct elog_err *err, const char *fmt, ...)
{
	char old[ELOG_ERR_MSG_MAX];
	va_list ap;
	size_t used;

	if (!err)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", old);
	return -1;
}
