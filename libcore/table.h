/*
 * table — the rows the administration tools print (elog-topic, elog-dlq):
 * an aligned table for a person when stdout is a terminal (columns padded
 * to their widest cell, two spaces apart, a header row first), TSV lines
 * otherwise (one row a line, cells tab-separated, no header: stable for
 * scripts, fields only ever added).
 *
 * Each cell is its own allocation, so nothing is cut: a topic name may be
 * 249 bytes. Out of memory leaves the table incomplete and says so
 * (`failed`); the caller reports it instead of printing.
 *
 *   struct elog_table t;
 *   elog_table_init(&t, 3);
 *   if (aligned && elog_table_row(&t) == 0) ... the header cells
 *   for each row: elog_table_row(&t); elog_table_set(&t, 0, "%s", name); ...
 *   if (!t.failed) elog_table_print(&t, stdout, aligned, 0);
 *   elog_table_release(&t);
 */
#ifndef ELOG_TABLE_H
#define ELOG_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define ELOG_TABLE_COLS_MAX 16

struct elog_table {
	size_t cols, rows, cap;
	char **cells;       /* rows * cols, row by row; NULL: empty */
	int failed;         /* out of memory: the table is incomplete */
};

/* cols from 1 to ELOG_TABLE_COLS_MAX. */
void elog_table_init(struct elog_table *t, size_t cols);
void elog_table_release(struct elog_table *t);
/* Start a row (its cells empty); -1 when out of memory. */
int elog_table_row(struct elog_table *t);
/* Set cell col of the last row, printf-style. */
void elog_table_set(struct elog_table *t, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A cell's text ("" when empty). */
const char *elog_table_cell(const struct elog_table *t, size_t row, size_t col);
/* Rows from `from` on: aligned, or as TSV. */
void elog_table_print(const struct elog_table *t, FILE *out, int aligned, size_t from);

#endif
