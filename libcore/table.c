/* table — see table.h. */
#include "table.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void elog_table_init(struct elog_table *t, size_t cols)
{
	assert(cols >= 1 && cols <= ELOG_TABLE_COLS_MAX);
	memset(t, 0, sizeof(*t));
	t->cols = cols;
}

void elog_table_release(struct elog_table *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

int elog_table_row(struct elog_table *t)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **grown = realloc(t->cells, cap * t->cols * sizeof(*grown));
		if (!grown) {
			t->failed = 1;
			return -1;
		}
		t->cells = grown;
		t->cap = cap;
	}
	memset(&t->cells[t->rows * t->cols], 0, t->cols * sizeof(*t->cells));
	t->rows++;
	return 0;
}

void elog_table_set(struct elog_table *t, size_t col, const char *fmt, ...)
{
	char **cell = &t->cells[(t->rows - 1) * t->cols + col];
	va_list ap;
	int n;

	assert(t->rows > 0 && col < t->cols);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	free(*cell);
	*cell = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!*cell) {
		t->failed = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(*cell, (size_t)n + 1, fmt, ap);
	va_end(ap);
}

const char *elog_table_cell(const struct elog_table *t, size_t row, size_t col)
{
	const char *cell = t->cells[row * t->cols + col];

	return cell ? cell : "";
}

void elog_table_print(const struct elog_table *t, FILE *out, int aligned, size_t from)
{
	size_t width[ELOG_TABLE_COLS_MAX] = {0};

	for (size_t r = from; aligned && r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (strlen(elog_table_cell(t, r, c)) > width[c])
				width[c] = strlen(elog_table_cell(t, r, c));
	for (size_t r = from; r < t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			const char *cell = elog_table_cell(t, r, c);
			if (c + 1 == t->cols)
				fprintf(out, "%s\n", cell);
			else if (aligned)
				fprintf(out, "%-*s  ", (int)width[c], cell);
			else
				fprintf(out, "%s\t", cell);
		}
	}
}

