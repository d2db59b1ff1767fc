/*
 * err — how libcore reports failure.
 *
 * libcore never prints and never exits. A function that can fail takes a
 * `struct elog_err *` as its last argument, returns -1 (or NULL) on failure
 * and fills in a code and a one-line message. The message is written so that
 * a tool can print it as-is after its own name: "elog-dump: <msg>".
 *
 * Messages are lowercase, name the failing thing first and the reason last,
 * and never end with a full stop: "00000000000000000000.log: byte 4096:
 * batch crc mismatch".
 *
 * A NULL err is allowed everywhere: the failure is still returned, the text
 * is dropped.
 */
#ifndef ELOG_ERR_H
#define ELOG_ERR_H

#include <stddef.h>

enum elog_errcode {
	ELOG_OK = 0,
	ELOG_E_INVAL,     /* caller passed something invalid */
	ELOG_E_IO,        /* read/write/open failed; errno text in the message */
	ELOG_E_CORRUPT,   /* bytes failed a check: crc, length, structure */
	ELOG_E_VERSION,   /* written by a format version this build cannot read */
	ELOG_E_LIMIT,     /* a configured or hard limit would be exceeded */
	ELOG_E_NOMEM,     /* allocation failed */
	ELOG_E_GAP,       /* follower append would leave a hole in the offsets */
	ELOG_E_OVERLAP,   /* follower append would overwrite existing offsets */
	ELOG_E_RANGE,     /* offset outside the log */
	ELOG_E_FAILED,    /* the object failed earlier (fsync error) and is unusable */
	ELOG_E_BUSY,      /* resource held by someone else (lock) */
	ELOG_E_DAMAGED,   /* stored data known to be damaged (not repaired by deleting) */
	ELOG_E_NOSPACE,   /* no room on the disk (ENOSPC, or below the free-space reserve) */
	ELOG_E__COUNT
};

/* Room for a message naming a 249-byte topic (ELOG_TOPIC_NAME_MAX) and why. */
#define ELOG_ERR_MSG_MAX 512

struct elog_err {
	enum elog_errcode code;
	char msg[ELOG_ERR_MSG_MAX];
};

/* Set code and message; always returns -1 so callers can `return elog_err_set(...)`. */
int elog_err_set(struct elog_err *err, enum elog_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like elog_err_set, with ": <strerror(errnum)>" appended. */
int elog_err_errno(struct elog_err *err, enum elog_errcode code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix an existing message: "ctx: old message". Returns -1. */
int elog_err_prefix(struct elog_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void elog_err_clear(struct elog_err *err);

/* Short stable name of a code ("corrupt", "io", ...). */
const char *elog_errcode_name(enum elog_errcode code);

#endif
